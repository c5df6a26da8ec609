"""Who a certificate names: the person (CN) and the organisation (O), as users read them."""
from __future__ import annotations


def _first(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) if value else None
    return str(value)


def cert_names(cert) -> tuple[str | None, str | None, str | None]:
    """(signer common name, organisation, issuer common name) of an asn1crypto certificate."""
    if cert is None:
        return None, None, None
    subject = cert.subject.native
    issuer = cert.issuer.native
    org = _first(subject.get("organization_name"))
    return _first(subject.get("common_name")), org, _first(issuer.get("common_name"))
