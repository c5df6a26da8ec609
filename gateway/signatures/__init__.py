"""Signatures on letters: verify PAdES/S-MIME, stamp the receipt as a gateway seal.

Public entry points (see each module): `verify_pdf`, `verify_in_worker`, `verify_smime`,
`stamp_pdf`, `TrustSettings`, `verify_command`.
"""
from gateway.signatures.trust import TrustConfigError, TrustSettings
from gateway.signatures.verdict import PdfVerdict, SignatureVerdict

__all__ = ["PdfVerdict", "SignatureVerdict", "TrustConfigError", "TrustSettings"]
