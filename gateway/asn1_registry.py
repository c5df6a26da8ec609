"""One place that loads every ASN.1 name asn1crypto may be asked for.

asn1crypto builds its name -> OID map for CMS attribute types once, on first use.
Modules that register names later (asn1crypto.tsp's signing_certificate_v2, pyHanko's
CAdES attributes) are then missing from it, and pyHanko fails with "invalid literal for
int(): 'signing_certificate_v2'" if our S/MIME code happened to build a CMS attribute
first. Importing this module before either loads all the names, then lets asn1crypto
build the map afresh."""
from __future__ import annotations

import asn1crypto.tsp  # noqa: F401  (registers signing_certificate_v2)
import pyhanko.sign.ades.cades_asn1  # noqa: F401  (registers the CAdES attributes)
from asn1crypto import cms

cms.CMSAttributeType._reverse_map = None  # rebuilt from the complete map on next use
