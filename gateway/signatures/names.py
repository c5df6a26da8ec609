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


def cert_emails(cert) -> set[str]:
    """The mail addresses an asn1crypto certificate is issued for (subjectAltName
    rfc822Name and the subject's emailAddress), lower-cased."""
    if cert is None:
        return set()
    found = [name.native for name in (cert.subject_alt_name_value or ()) if name.name == "rfc822_name"]
    email = cert.subject.native.get("email_address")
    found += email if isinstance(email, list) else [email] if email else []
    return {str(a).strip().lower() for a in found if a}
