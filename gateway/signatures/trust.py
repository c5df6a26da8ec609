"""Whom we trust: the operator's root bundle, never the OS TLS store.

A letter's signature is only as good as the roots we accept; the OS store holds web
CAs that have no say over Thai electronic signatures, so an empty bundle means
"nothing is trusted", not "fall back to the system".
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem

ENV_ROOTS = "SARABAN_TRUST_ROOTS"
REVOCATION_MODES = ("soft-fail", "hard-fail", "require")


class TrustConfigError(ValueError):
    """The trust configuration cannot be used (missing file, no certificate in it...)."""


def _der_blocks(path: Path, *, kind: str) -> list[bytes]:
    """Every DER object in a PEM bundle (or the file itself when it is DER)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrustConfigError(f"cannot read {kind} file {path}: {exc.strerror}") from None
    if pem.detect(data):
        return [der for _type, _headers, der in pem.unarmor(data, multiple=True)]
    return [data] if data else []


def _load_certs(paths: Iterable[Path], *, kind: str) -> tuple[bytes, ...]:
    from asn1crypto import x509

    out: list[bytes] = []
    for path in paths:
        blocks = _der_blocks(Path(path), kind=kind)
        if not blocks:
            raise TrustConfigError(f"{kind} file {path} holds no certificate")
        for der in blocks:
            try:
                x509.Certificate.load(der).native  # noqa: B018 - parse fully now, not per letter
            except ValueError as exc:
                raise TrustConfigError(f"{kind} file {path} holds something that is not a certificate: {exc}") from None
            out.append(der)
    return tuple(out)


def _load_revocation(directory: Path | None) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """CRLs (*.crl, *.pem) and OCSP responses (*.ocsp, *.der under ocsp/) from the cache."""
    if directory is None:
        return (), ()
    directory = Path(directory)
    if not directory.is_dir():
        raise TrustConfigError(f"revocation directory {directory} does not exist")
    crls: list[bytes] = []
    ocsps: list[bytes] = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix in (".crl", ".pem"):
            crls.extend(_der_blocks(path, kind="CRL"))
        elif suffix in (".ocsp", ".der"):
            ocsps.append(path.read_bytes())
    return tuple(crls), tuple(ocsps)


@dataclass(frozen=True)
class TrustSettings:
    """Trust anchors and revocation data, already read into bytes (picklable for workers)."""

    roots: tuple[bytes, ...] = ()  # DER certificates
    intermediates: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()
    ocsps: tuple[bytes, ...] = ()
    allow_fetching: bool = False  # online CRL/OCSP/AIA fetching: opt-in only
    revocation_mode: str = "soft-fail"
    root_sources: tuple[str, ...] = ()  # where the roots came from, for `verify` output
    # The gateway's own seal certificates (every key it has stamped with). A self-signed
    # one is trusted as its own anchor, so the gateway's stamp verifies without the
    # operator copying it into the roots; one issued by a CA goes with the
    # intermediates and needs that CA among the roots like any other signer.
    own_seals: tuple[bytes, ...] = ()

    @classmethod
    def load(
        cls,
        roots: Iterable[str | Path] = (),
        intermediates: Iterable[str | Path] = (),
        revocation_dir: str | Path | None = None,
        *,
        allow_fetching: bool = False,
        revocation_mode: str = "soft-fail",
        env: Mapping[str, str] | None = None,
    ) -> TrustSettings:
        """Read the operator's PEM bundles; `SARABAN_TRUST_ROOTS` (colon-separated
        paths) replaces `roots` when set."""
        env = os.environ if env is None else env
        override = env.get(ENV_ROOTS, "").strip()
        root_paths = [Path(p) for p in override.split(":") if p] if override else [Path(p) for p in roots]
        if revocation_mode not in REVOCATION_MODES:
            raise TrustConfigError(f"revocation_mode must be one of {', '.join(REVOCATION_MODES)}, not {revocation_mode!r}")
        crls, ocsps = _load_revocation(Path(revocation_dir) if revocation_dir else None)
        return cls(
            roots=_load_certs(root_paths, kind="trust root"),
            intermediates=_load_certs([Path(p) for p in intermediates], kind="intermediate"),
            crls=crls,
            ocsps=ocsps,
            allow_fetching=allow_fetching,
            revocation_mode=revocation_mode,
            root_sources=tuple(str(p) for p in root_paths),
        )

    def is_own_seal(self, cert) -> bool:
        """Whether an asn1crypto certificate is one of the gateway's seal certificates."""
        try:
            return cert.dump() in self.own_seals
        except Exception:
            return False

    def validation_context(self, extra_certs=(), extra_crls=(), extra_ocsps=(), moment=None):
        """A fresh pyHanko ValidationContext (they hold per-validation state).

        `extra_*` are what the file itself carries (its DSS): usable, never trusted as roots.
        `moment`: validate as of that time (a trusted timestamp's) instead of now; the
        revocation data we hold, issued since, then speaks for it."""
        from pyhanko_certvalidator import ValidationContext
        from pyhanko_certvalidator.authority import CertTrustAnchor
        from pyhanko_certvalidator.registry import SimpleTrustManager
        from asn1crypto import x509

        # An explicit trust manager, even when empty: ValidationContext(trust_roots=None)
        # would silently fall back to the OS TLS store.
        anchors = [CertTrustAnchor(x509.Certificate.load(der)) for der in self.roots]
        seals = [x509.Certificate.load(der) for der in self.own_seals]
        # The gateway's own seal is trusted as itself (an anchor), whoever issued it: a
        # seal from `keys create` is issued by a one-off CA whose key is gone, and an
        # organisation's CA must not become a root for everything it ever issued.
        anchors += [CertTrustAnchor(cert) for cert in seals]
        issued = [cert for cert in seals if cert.self_signed not in ("maybe", "yes")]
        return ValidationContext(
            trust_manager=SimpleTrustManager.build(trust_roots=anchors),
            other_certs=[x509.Certificate.load(der) for der in self.intermediates] + issued + list(extra_certs),
            crls=list(self.crls) + list(extra_crls),
            ocsps=list(self.ocsps) + list(extra_ocsps),
            allow_fetching=self.allow_fetching,
            revocation_mode=self.revocation_mode,
            **({"moment": moment, "retroactive_revinfo": True} if moment is not None else {}),
        )


def anchor_validity_problem(path, moment=None) -> tuple[str, str] | None:
    """(sub-indication, message) when the trust anchor that ends a validated path is
    outside its own validity period, else None.

    pyHanko (like RFC 5280) takes a trust anchor's dates as given. An operator who puts
    a self-signed seal or signer in the trust roots would then see an expired one pass,
    so the anchor's dates are held to the same rule as every other certificate's."""
    import datetime as dt

    if path is None:
        return None
    try:
        anchor = path.trust_anchor
        cert = getattr(anchor, "certificate", None) or getattr(anchor.authority, "certificate", None)
        validity = cert["tbs_certificate"]["validity"]
        not_before, not_after = validity["not_before"].native, validity["not_after"].native
        name = cert.subject.native.get("common_name") or cert.subject.human_friendly
    except Exception:
        return None  # an anchor without a certificate (bare key): no dates to check
    now = moment or dt.datetime.now(dt.timezone.utc)
    if now > not_after:
        return ("OUT_OF_BOUNDS_NO_POE",
                f"the trust root {name} expired on {not_after.date().isoformat()} and nothing proves the signature came earlier")
    if now < not_before:
        return "NOT_YET_VALID", f"the trust root {name} is not valid before {not_before.date().isoformat()}"
    return None


# The one policy for what a signer's certificate must be issued for, a PDF's signer and
# a signed mail's alike (a clerk saw the mail "signed, valid" and the letter attached to
# it "not valid" until session 44: pyHanko holds a PDF's signer to nonRepudiation and
# the mail's to whatever it is given). pyHanko enforces neither part (signer_constraints);
# signer_usage_problem does, once the chain is valid, for both paths.
#
# Key usage (RFC 5280 4.2.1.3): digitalSignature or nonRepudiation (contentCommitment),
# as Adobe Acrobat, EU DSS and OpenSSL's smimesign purpose accept; a certificate without
# the extension is restricted to nothing and may sign (pyHanko alone refused it).
SIGNING_KEY_USAGES = frozenset({"digital_signature", "non_repudiation"})

# Extended key usage (RFC 5280 4.2.1.12: a certificate with the extension "MUST only be
# used for" its purposes): signing documents or mail, or TLS client authentication,
# which CAs put on signing certificates of persons (pyHanko's own documentation says
# so). By OID: pyHanko renames Adobe's (asn1crypto's "adobe_authentic_documents_trust"
# is "pdf_signing" once pyHanko is loaded), so a name here matched nothing until
# session 44. No extension at all: any purpose.
SIGNER_PURPOSES = frozenset({
    "1.3.6.1.5.5.7.3.4",  # emailProtection
    "1.3.6.1.5.5.7.3.2",  # clientAuth
    "1.3.6.1.5.5.7.3.3",  # codeSigning
    "1.3.6.1.5.5.7.3.36",  # documentSigning, RFC 9336
    "1.3.6.1.4.1.311.10.3.12",  # Microsoft document signing
    "1.2.840.113583.1.1.5",  # Adobe Authentic Documents Trust (PDF signing)
    "2.5.29.37.0",  # anyExtendedKeyUsage
})


def signer_constraints():
    """The key usage constraints handed to pyHanko for a signature, PDF or CMS: none.

    pyHanko's own (nonRepudiation for a PDF, what it is given for a mail) cannot say
    "no extension: any usage", are skipped for a signer that is a trust root, and its
    failure reads only "the chain breaks a constraint"; signer_usage_problem says which."""
    from pyhanko.sign.validation.settings import KeyUsageConstraints

    # An empty set, not None: None is "pyHanko's default for this kind of signature".
    return KeyUsageConstraints(key_usage=set(), extd_key_usage=None)


def _key_uses(cert) -> set | None:
    """A certificate's key usages; None when it has no such extension, or one that
    cannot be read (which fails validation elsewhere, and is no reason here)."""
    try:
        value = cert.key_usage_value
        return set(value.native) if value is not None else None
    except Exception:
        return None


def _purposes(cert) -> dict[str, str] | None:
    """dotted OID -> name of a certificate's extended key usages; None without the extension."""
    try:
        value = cert.extended_key_usage_value
        return {p.dotted: p.native for p in value} if value is not None else None
    except Exception:
        return None


# What a key usage lets a certificate do, as a clerk reads it.
_KEY_USES = {"key_encipherment": "encrypting keys", "data_encipherment": "encrypting data",
             "key_agreement": "key agreement", "encipher_only": "key agreement", "decipher_only": "key agreement"}
_SIGNS = {"key_cert_sign": "certificates", "crl_sign": "CRLs"}
_NOT_FOR_SIGNING = "ใบรับรองของผู้ลงนามไม่ได้ออกให้ใช้ลงลายมือชื่อในเอกสารหรือจดหมาย"


def _uses_shown(uses: set) -> str:
    """"signing certificates and CRLs", "encrypting keys", "nothing"..."""
    signs = [_SIGNS[u] for u in ("key_cert_sign", "crl_sign") if u in uses]
    others = sorted({_KEY_USES.get(u, u.replace("_", " ")) for u in uses - _SIGNS.keys()})
    return " and ".join(([f"signing {' and '.join(signs)}"] if signs else []) + others) or "nothing"


def signer_usage_problem(path, cert) -> tuple[str, str] | None:
    """(sub-indication, message) when the signer's certificate, on a validated `path`,
    is not issued for signing (SIGNING_KEY_USAGES, SIGNER_PURPOSES), else None. The
    same answer for a PDF's signature and a mail's."""
    uses = _key_uses(cert)
    if uses is not None and not uses & SIGNING_KEY_USAGES:
        # A trust root's own (session 40: a CA's root key signing a letter passed, as
        # pyHanko holds a trust root to no key usage at all) is said to be one.
        whose = "a trust root issued for" if _is_anchor(path) else "issued for"
        own_key = " (a CA's own key)" if uses & _SIGNS.keys() else ""
        return ("CHAIN_CONSTRAINTS_FAILURE",
                f"the signer's certificate is {whose} {_uses_shown(uses)}{own_key}, not for signing documents"
                f" or mail ({_NOT_FOR_SIGNING})")
    purposes = _purposes(cert)
    if purposes is None or purposes.keys() & SIGNER_PURPOSES:
        return None
    shown = ", ".join(sorted(name.replace("_", " ") for name in purposes.values()))
    return ("CHAIN_CONSTRAINTS_FAILURE",
            f"the signer's certificate is issued for {shown}, not for signing documents or mail")


def _is_anchor(path) -> bool:
    """Whether the validation path has no certificate below its trust anchor (the
    signer's certificate is itself a trust root)."""
    try:
        return path is not None and path.pkix_len == 0
    except Exception:
        return False


# A signer's computer clock may be off by some hours (time zone set wrong, no NTP); a
# day either way is not taken as a false claim.
CLAIMED_TIME_SLACK_DAYS = 1


def claimed_time_problem(cert, claimed, now=None) -> tuple[str, str] | None:
    """(sub-indication, message) when the signing time a signer's computer claims (CMS
    signingTime, no timestamp vouching for it) cannot be true: before the signer's
    certificate was valid, after it expired, or later than now. pyHanko validates at the
    current time and passes such a signature; Acrobat, which by default validates at the
    time the signature claims, calls the signer's certificate not yet valid (or expired)
    and the signature invalid. Until session 53 a letter signed by a certificate issued in
    2026 and dated 2015 by its signer's clock was "valid, signed 2015-12-25" in the
    register without review: a backdated letter to meet a deadline. Else None."""
    import datetime as dt

    if claimed is None:
        return None
    now = now or dt.datetime.now(dt.timezone.utc)
    slack = dt.timedelta(days=CLAIMED_TIME_SLACK_DAYS)
    try:
        validity = cert["tbs_certificate"]["validity"]
        start, end = validity["not_before"].native, validity["not_after"].native
        when = claimed.date().isoformat()
        if claimed < start - slack:
            return "NOT_YET_VALID", _claimed(
                f"the signing time its signer's computer claims, {when}, is before the signer's certificate "
                f"was valid (from {start.date().isoformat()}): that time is false",
                f"เวลาลงนามที่เครื่องของผู้ลงนามระบุ ({when}) อยู่ก่อนใบรับรองของผู้ลงนามเริ่มมีผล "
                f"({start.date().isoformat()}) จึงไม่ใช่เวลาที่ลงนามจริง")
        if claimed > end + slack:
            return "EXPIRED", _claimed(
                f"the signing time its signer's computer claims, {when}, is after the signer's certificate "
                f"expired ({end.date().isoformat()}): the signature was made with an expired certificate, "
                f"or that time is false",
                f"เวลาลงนามที่เครื่องของผู้ลงนามระบุ ({when}) อยู่หลังใบรับรองของผู้ลงนามหมดอายุ "
                f"({end.date().isoformat()})")
        if claimed > now + slack:
            return "GENERIC", _claimed(
                f"the signing time its signer's computer claims, {when}, is in the future: that time is false",
                f"เวลาลงนามที่เครื่องของผู้ลงนามระบุ ({when}) ยังมาไม่ถึง จึงไม่ใช่เวลาที่ลงนามจริง")
    except Exception:  # noqa: BLE001 - unreadable dates fail validation elsewhere
        return None
    return None


def _claimed(english: str, thai: str) -> str:
    return f"{english} ({thai})"


def validity_problem(cert, others=(), moment=None) -> tuple[str, str, str] | None:
    """(indication, sub-indication, message) when the signer's certificate, or a CA
    certificate above it that the signature carries, is not valid yet or has expired;
    else None.

    pyHanko files both under CERTIFICATE_CHAIN_GENERAL_FAILURE ("the signer's
    certificate chain could not be validated"). ETSI EN 319 102-1 has NOT_YET_VALID for
    the first: the signature exists now, before the signer's certificate starts, so it
    was made before the certificate was valid (TOTAL_FAILED); a CA certificate that
    starts later leaves the chain unproven for now (INDETERMINATE). A CA certificate
    that has expired is OUT_OF_BOUNDS_NO_POE, as an expired signer's certificate is
    (pyHanko says that one itself): until session 20 the clerk read only that the chain
    "could not be validated", not which certificate or why. Of several carried CA
    certificates of one name (a CA renewed under the same name) one in its dates is
    taken, so a stale copy beside the current one is not blamed."""
    import datetime as dt

    now = moment or dt.datetime.now(dt.timezone.utc)

    def dates(c):
        validity = c["tbs_certificate"]["validity"]
        return validity["not_before"].native, validity["not_after"].native

    try:
        by_subject: dict[bytes, list] = {}
        for c in others:
            by_subject.setdefault(c.subject.dump(), []).append(c)
        current, depth = cert, 0
        while current is not None and depth < 10:
            start, end = dates(current)
            name = current.subject.native.get("common_name") or current.subject.human_friendly
            if now < start:
                when = start.date().isoformat()
                if depth == 0:
                    return ("TOTAL_FAILED", "NOT_YET_VALID",
                            f"the signer's certificate is not valid before {when}: the signature was made before it")
                return "INDETERMINATE", "NOT_YET_VALID", f"the CA certificate {name} is not valid before {when}"
            if now > end:
                whose = "the signer's certificate" if depth == 0 else f"the CA certificate {name}"
                return ("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE",
                        f"{whose} expired on {end.date().isoformat()} and nothing proves the signature came earlier")
            if current.self_signed in ("maybe", "yes"):
                return None
            issuers = by_subject.get(current.issuer.dump(), [])
            in_dates = [c for c in issuers if dates(c)[0] <= now <= dates(c)[1]]
            current, depth = (in_dates or issuers or [None])[0], depth + 1
    except Exception:
        return None  # unreadable dates fail validation elsewhere
    return None
