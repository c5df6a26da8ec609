"""Keep asn1crypto's OID name tables whole when pyHanko is imported late.

asn1crypto builds a class's name → OID table the first time an object of the class is
made, and never again. pyHanko (and asn1crypto.tsp) add CMS attribute names such as
`signing_certificate_v2` when they are imported; if anything in the process (the
secrecy module's S/MIME envelopes, for one) used CMS attributes before that, signing
and validation fail with "invalid literal for int(): 'signing_certificate_v2'".
Calling `ensure_asn1_names()` before pyHanko work rebuilds a stale table.

`prepare_name_values_once()`: asn1crypto prepares each value of a certificate's name
for comparison (RFC 4518: stringprep a character at a time) once per parsed object. A
signed letter's certificates are parsed afresh for each verification and their names
compared with the trust roots' and the CRLs' some 40 times: 2.5 of the 12.7 ms of CPU
that verifying one took (session 23). The preparation depends on the text alone, so the
result for each text is kept, for every object after it.
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


_PREPARED_KEPT = 4096  # texts of names: a few dozen a PKI; a sender's certificates add theirs


def prepare_name_values_once() -> None:
    """Keep asn1crypto's prepared name values by their text (once a process). A value
    whose preparation raises (a code point X.509 names may not hold) is not kept and
    raises again; anything but a str goes to asn1crypto as before."""
    from asn1crypto import x509

    prepare = x509.NameTypeAndValue._ldap_string_prep
    if hasattr(prepare, "kept"):
        return
    kept: dict[str, str] = {}

    def _ldap_string_prep(self, string):
        if type(string) is not str:
            return prepare(self, string)
        out = kept.get(string)
        if out is None:
            out = prepare(self, string)
            if len(kept) < _PREPARED_KEPT:
                kept[string] = out
        return out

    _ldap_string_prep.kept = kept
    _ldap_string_prep.original = prepare
    x509.NameTypeAndValue._ldap_string_prep = _ldap_string_prep
