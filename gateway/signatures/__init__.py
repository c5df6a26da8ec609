"""Signatures on letters: verify PAdES/S-MIME, stamp the receipt as a gateway seal.

Public entry points (see each module): `verify_pdf`, `verify_in_worker`, `verify_smime`,
`stamp_pdf`, `TrustSettings`, `verify_command`.
"""
from gateway.signatures.pyhanko_import import defer_aiohttp

# Here, before any module of this package imports pyHanko: the stamping child and the
# signature worker come through this package, and neither needs aiohttp (~9.9 MiB).
defer_aiohttp()

from gateway.signatures.trust import TrustConfigError, TrustSettings  # noqa: E402
from gateway.signatures.verdict import PdfVerdict, SignatureVerdict  # noqa: E402

__all__ = ["PdfVerdict", "SignatureVerdict", "TrustConfigError", "TrustSettings"]
