"""Keep asn1crypto's OID name tables whole when pyHanko is imported late.

asn1crypto builds a class's name → OID table the first time an object of the class is
made, and never again. pyHanko (and asn1crypto.tsp) add CMS attribute names such as
`signing_certificate_v2` when they are imported; if anything in the process (the
secrecy module's S/MIME envelopes, for one) used CMS attributes before that, signing
and validation fail with "invalid literal for int(): 'signing_certificate_v2'".
Calling `ensure_asn1_names()` before pyHanko work rebuilds a stale table.
"""
from __future__ import annotations


def ensure_asn1_names() -> None:
    import asn1crypto.tsp  # noqa: F401  (registers signing_certificate_v2 and friends)
    import pyhanko.sign.general  # noqa: F401  (pyHanko's own CMS attribute names)
    from asn1crypto import cms, x509

    for cls in (cms.CMSAttributeType, cms.ContentType, x509.ExtensionId):
        names = cls._reverse_map
        if names is not None and not set(cls._map.values()) <= names.keys():
            # asn1crypto runs its own _setup once per class; rebuild as it does.
            cls._reverse_map = {value: key for key, value in cls._map.items()}
