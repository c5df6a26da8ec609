"""S/MIME-signed mail: multipart/signed (detached) and application/pkcs7-mime signed-data.

The `cryptography` package cannot verify CMS, so pyHanko's generic CMS validation does
it, with the same trust settings and verdict shape as PDFs. The signed content of a
multipart/signed message is the first part's bytes exactly as transmitted (RFC 8551
§3.5): we cut them out of the raw message rather than re-serialising a parsed one,
which would change the bytes and break every signature.
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import email
import email.policy
import email.utils
import re

import structlog

from gateway.email_fixes import decode_qp
from gateway.signatures.asn1_names import ensure_asn1_names, prepare_name_values_once
from gateway.signatures.names import cert_emails, cert_names
from gateway.signatures.trust import (
    TrustSettings,
    anchor_validity_problem,
    claimed_time_problem,
    signer_constraints,
    signer_usage_problem,
    validity_problem,
)
from gateway.signatures.verdict import (
    INDETERMINATE,
    MOD_NONE,
    TOTAL_FAILED,
    TOTAL_PASSED,
    SignatureVerdict,
)
from gateway.signatures.verify import known_sub_indication, quiet_library_logs, trust_message
from gateway.pipeline.parse import carries_file, filename_of
from gateway.secrecy.smime_label import octet_stream_signed
from rules.files import signed_file_name

log = structlog.get_logger(__name__)

_SIG_TYPES = ("application/pkcs7-signature", "application/x-pkcs7-signature")
_MIME_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")


def verify_smime(raw_message: bytes, trust: TrustSettings) -> list[dict]:
    """Verdicts (as dicts) for the S/MIME signatures of a message; [] when it has none.
    Never raises on bad input. Not for use inside a running event loop."""
    return asyncio.run(async_verify_smime(raw_message, trust))


async def async_verify_smime(raw_message: bytes, trust: TrustSettings) -> list[dict]:
    return await _guarded(lambda: _verify(raw_message, trust))


def verify_signed_file(der: bytes, trust: TrustSettings, name: str | None) -> list[dict]:
    """Verdicts (as dicts) for a signed file attached to a letter (`letter.pdf.p7m`: CMS
    signed-data that carries the file, as CAdES signing tools make it): the signature of
    the file inside, `name`, whoever sent the mail. Never raises on bad input."""
    return asyncio.run(_guarded(lambda: _verify_enveloping(der, trust, None, name)))


async def _guarded(verify) -> list[dict]:
    quiet_library_logs()
    ensure_asn1_names()
    prepare_name_values_once()
    try:
        verdicts = await verify()
    except Exception as exc:  # hostile mail: a verdict, not a traceback
        log.info("smime_unreadable", error=repr(exc)[:300])
        # The library's words go to the log above; a person reads the verdict.
        verdicts = [_problem("the S/MIME structure could not be read")]
    return [v.as_dict() for v in verdicts]


def _problem(message: str, sub: str = "FORMAT_FAILURE") -> SignatureVerdict:
    return SignatureVerdict(
        kind="smime", indication=INDETERMINATE, sub_indication=sub, signer=None,
        organisation=None, signed_at=None, signed_at_source=None, covers_whole_file=False,
        modifications=MOD_NONE, review=True, message=message,
    )


async def _verify(raw: bytes, trust: TrustSettings) -> list[SignatureVerdict]:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    whole = await _verify_whole(raw, msg, trust)
    if whole is not None:
        return whole
    # A signed letter may also travel inside a multipart/mixed, one level down: as a
    # smime.p7m file, as a multipart/signed part, or forwarded (message/rfc822). Each is
    # cut out of the raw message by the delimiter lines, as a MIME reader sees them.
    if not msg.is_multipart() or not isinstance(msg.get_payload(), list):
        return []
    parts = msg.get_payload()
    spans = _parts_bytes(raw, msg.get_boundary() or "")
    cut = len(spans) == len(parts)  # the raw bytes of each part are known
    found: dict[int, list[SignatureVerdict]] = {}
    for n, part in enumerate(parts):
        kind = _signed_kind(part, cut)
        if kind is None:
            continue
        if len(found) == MAX_SIGNERS:
            found[n] = [_problem(f"more than {MAX_SIGNERS} signed parts: the first {MAX_SIGNERS} were checked",
                                 "GENERIC")]
            break
        if kind == "opaque":
            verdicts = await _verify_enveloping(part.get_payload(decode=True) or b"", trust, None, _inner_name(part))
        elif kind == "detached":
            verdicts = await _verify_detached(spans[n], part, trust, None)
        else:
            forwarded = _forwarded_bytes(spans[n], part)
            inner = email.message_from_bytes(forwarded or b"", policy=email.policy.compat32)
            verdicts = (await _verify_whole(forwarded, inner, trust) or []) if forwarded else []
        if verdicts:
            found[n] = verdicts
    # The mail's other files sit beside the signed parts, inside no signature: the
    # register names them so that none reads as one the signer sent.
    outside = tuple(_file_names(p for n, part in enumerate(parts) if n not in found for p in part.walk()))
    return [dataclasses.replace(v, not_covered=outside) for verdicts in found.values() for v in verdicts]


def _signed_kind(part, cut: bool) -> str | None:
    """How a part one level down is signed: "opaque" (smime.p7m), "detached" (a
    multipart/signed part) or "forwarded" (message/rfc822, whatever it holds); None when
    it is not, or when its bytes cannot be cut out of the mail."""
    ctype = part.get_content_type()
    if ctype in _MIME_TYPES:
        # A signed file (letter.pdf.p7m) is not a signed mail: verified as the signature of
        # the file inside it (`verify_signed_file`), not of the mail's parts beside it.
        return "opaque" if (part.get_param("smime-type") or "signed-data").lower() == "signed-data" \
            and not _signs_a_file(part) else None
    if ctype == "multipart/signed" and cut:
        return "detached"
    return "forwarded" if ctype == "message/rfc822" and cut else None


async def _verify_whole(raw: bytes, msg, trust: TrustSettings) -> list[SignatureVerdict] | None:
    """The verdicts of a message signed as a whole, or None when it is not. Its From
    must be an address of the signer's certificate (a forwarded letter's own From)."""
    ctype = msg.get_content_type()
    if ctype == "multipart/signed":
        return await _verify_detached(raw, msg, trust, _Senders.of(msg))
    if ctype in _MIME_TYPES or octet_stream_signed(msg):  # an opaque-signed letter relabelled octet-stream
        smime_type = (msg.get_param("smime-type") or "").lower()
        if smime_type and smime_type != "signed-data":
            return []  # enveloped-data etc.: encrypted, not signed (another module's job)
        return await _verify_enveloping(msg.get_payload(decode=True) or b"", trust, _Senders.of(msg), _inner_name(msg))
    return None


def _signs_a_file(part) -> bool:
    """A signed file (`gateway.pipeline.parse.carries_file`: letter.pdf.p7m, x.zip.p7m), as the
    letter's parse unwraps it, not a signed message."""
    try:
        content = _signed_data(part.get_payload(decode=True) or b"")["encap_content_info"]["content"].native
    except Exception:  # noqa: BLE001 - not signed data: verified (and said unreadable) as before
        return False
    return isinstance(content, bytes) and carries_file(filename_of(part), content)


def _parts_bytes(raw: bytes, boundary: str) -> list[bytes]:
    """The body parts of a multipart, byte for byte, up to its closing delimiter."""
    delim = re.escape(b"--" + boundary.encode("ascii", "replace"))
    # A delimiter line is the boundary and nothing after it but blanks (RFC 2046 5.1.1),
    # as the MIME parser the rules, the folder copy and the clerk's mail reader use sees
    # it. Taken as a prefix (OpenSSL's reading), a line "--<boundary>x" inside the signed
    # part ended the signed bytes there: text appended after it showed as part of the
    # signed body, and the signature passed.
    marks = list(re.finditer(rb"(?:\r?\n|^)" + delim + rb"(--)?[ \t]*(?:\r?\n|$)", raw)) if boundary else []
    out = []
    for mark, following in zip(marks, marks[1:]):
        if mark.group(1):
            break  # the closing delimiter: what follows is the epilogue
        out.append(raw[mark.end(): following.start()])
    return out


def _forwarded_bytes(part_bytes: bytes, part) -> bytes | None:
    """The message a message/rfc822 part carries, as sent (decoded when the sender
    encoded it, which RFC 2046 forbids and clients do anyway)."""
    head, sep, body = part_bytes.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = part_bytes.partition(b"\n\n")
    if not sep:
        return None
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding == "base64":
        return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", body) + b"===")
    return decode_qp(body) if encoding == "quoted-printable" else body


def _file_names(parts) -> list[str]:
    """The names of the files among MIME parts (leaves that carry a file name), read as
    the register reads them (`filename_of`: a raw Windows-874 name, an RFC 2047 word in a
    quoted filename=, a wrong charset label; get_filename gave U+FFFDs, "=?utf-8?B?...?="
    or "˹ѧ..." in the verdict). A name no parser can decode is said as such: it must
    not cost a valid signature its verdict."""
    names = []
    for part in parts:
        try:
            name = None if part.is_multipart() else filename_of(part)
        except Exception:
            name = "(a file whose name could not be read)"
        if name:
            names.append(str(name))
    return names


def _inner_name(part) -> str | None:
    return signed_file_name(filename_of(part))


def _covered_files(content: bytes, inner_name: str | None = None) -> tuple[str, ...]:
    """The files inside what a signature signs: the file of a signed bare PDF, or the
    named parts of a signed MIME entity."""
    if b"%PDF-" in content[:1024]:
        return (inner_name or "PDF",)
    if inner_name and carries_file(inner_name + ".p7m", content):
        return (inner_name,)  # a signed file (x.zip.p7m): the file, not a message's parts
    entity = email.message_from_bytes(content, policy=email.policy.compat32)
    return tuple(_file_names(entity.walk()))


def _first_part_bytes(raw: bytes, boundary: str) -> bytes | None:
    """The first body part of a multipart, byte for byte, line endings made CRLF."""
    parts = _parts_bytes(raw, boundary)
    if not parts:
        return None
    # Mail stores may keep LF-only lines; signers always sign the canonical CRLF form.
    return re.sub(rb"\r?\n", b"\r\n", parts[0])


def _signed_data(der: bytes):
    from asn1crypto import cms

    info = cms.ContentInfo.load(der)
    if info["content_type"].native != "signed_data":
        raise ValueError(f"CMS content is {info['content_type'].native}, not signed data")
    return info["content"]


async def _verify_detached(raw: bytes, msg, trust: TrustSettings, senders: "_Senders") -> list[SignatureVerdict]:
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms

    boundary = msg.get_boundary()
    parts = msg.get_payload()
    if not boundary or not isinstance(parts, list) or len(parts) < 2:
        return [_problem("multipart/signed without a content part and a signature part")]
    sig_part = parts[1]
    if sig_part.get_content_type() not in _SIG_TYPES:
        return [_problem(f"multipart/signed whose signature part is {sig_part.get_content_type()}")]
    content = _first_part_bytes(raw, boundary)
    if content is None:
        return [_problem("the signed part's boundaries could not be found")]
    signed_data = _signed_data(sig_part.get_payload(decode=True) or b"")
    statuses = [await async_validate_detached_cms(
        content, one, signer_validation_context=trust.validation_context(), key_usage_settings=signer_constraints(),
    ) for one in _one_signer_each(signed_data)]
    outside = tuple(_file_names(p for extra in parts[2:] for p in extra.walk()))
    verdicts = _verdicts(statuses, senders, _covered_files(content), outside, _carried_certs(signed_data))
    if len(parts) > 2:
        # RFC 1847: a signed multipart has two parts, what is signed and the signature. A
        # third (a PDF added to a signed mail) is signed by no one, yet the mail's S/MIME
        # verdict passed and its files read as signed ones.
        verdicts = [dataclasses.replace(
            v, indication=INDETERMINATE, sub_indication="SIG_CONSTRAINTS_FAILURE", review=True,
            message=(f"the signed mail holds {len(parts) - 2} part(s) after its signature that the signature "
                     "does not cover (ไฟล์หรือข้อความที่อยู่นอกส่วนที่ลงลายมือชื่อไว้ ไม่ได้รับการรับรองจากผู้ลงนาม)"))
            if v.indication == TOTAL_PASSED else v for v in verdicts]
    return verdicts


async def _verify_enveloping(der: bytes, trust: TrustSettings, senders: "_Senders | None",
                             inner_name: str | None = None) -> list[SignatureVerdict]:
    from pyhanko.sign.general import extract_signer_info
    from pyhanko.sign.validation.generic_cms import async_validate_cms_signature, extract_self_reported_ts
    from pyhanko.sign.validation.status import StandardCMSSignatureStatus

    signed_data = _signed_data(der)
    content = signed_data["encap_content_info"]["content"].native
    if content is None:
        return [_problem("signed-data without the signed content")]
    statuses = []
    for one in _one_signer_each(signed_data):
        claimed = extract_self_reported_ts(extract_signer_info(one))
        # Without a raw digest pyHanko hashes the encapsulated content itself.
        statuses.append(await async_validate_cms_signature(
            one, status_cls=StandardCMSSignatureStatus,
            validation_context=trust.validation_context(), key_usage_settings=signer_constraints(),
            status_kwargs={"signer_reported_dt": claimed} if claimed else None,
        ))
    covered = _covered_files(content, inner_name) if isinstance(content, bytes) else ()
    return _verdicts(statuses, senders, covered, (), _carried_certs(signed_data))


def _one_signer_each(signed_data) -> list:
    """The signed data once per SignerInfo, each copy holding that one alone.

    RFC 5652 lets several people sign the same content (SignerInfos is a SET); pyHanko
    validates exactly one, and refused the whole mail ("could not be read") when it had
    two. Each SignerInfo signs the content's digest in its own signed attributes, so a
    copy with one SignerInfo and every certificate verifies that signer as it stands."""
    from asn1crypto import cms

    infos = list(signed_data["signer_infos"])
    if len(infos) <= 1:
        return [signed_data]
    if len(infos) > MAX_SIGNERS:
        raise ValueError(f"{len(infos)} signers")
    out = []
    for info in infos:
        one = signed_data.untag()
        one["signer_infos"] = cms.SignerInfos([cms.SignerInfo.load(info.dump())])
        out.append(one)
    return out


MAX_SIGNERS = 8  # co-signers of one letter; more is a cost, not a letter


def unwrap_smime(raw_message: bytes) -> bytes | None:
    """The MIME entity inside an application/pkcs7-mime signed-data message (what the
    sender actually wrote), or None when the message is not one. Does not verify."""
    try:
        msg = email.message_from_bytes(raw_message, policy=email.policy.compat32)
        if msg.get_content_type() not in _MIME_TYPES:
            return None
        content = _signed_data(msg.get_payload(decode=True) or b"")["encap_content_info"]["content"]
        return content.native if isinstance(content.native, bytes) else None
    except Exception:
        return None


@dataclasses.dataclass(frozen=True)
class _Senders:
    """The addresses a signed message names as its author (From) and as the one who
    sent it for them (Sender, RFC 5322 3.6.2)."""

    author: frozenset[str]
    sender: frozenset[str]

    @classmethod
    def of(cls, msg) -> "_Senders":
        def addresses(name: str) -> frozenset[str]:
            values = [str(v) for v in msg.get_all(name, [])]
            return frozenset(a.strip().lower() for _, a in email.utils.getaddresses(values) if "@" in a)

        return cls(addresses("From"), addresses("Sender"))


def _sender_mismatch(cert, senders: _Senders) -> str | None:
    """Why the certificate does not vouch for the letter's author, or None. RFC 8550
    section 3 accepts the From or the Sender address. The register, the receipt and the
    notice name the letter by its From, so only From counts here: a certificate of the
    Sender alone (someone sending for another) is said to be that, and the letter is not
    confirmed as the From's. A certificate that names no address cannot be compared."""
    issued_for = cert_emails(cert)
    if not issued_for or not senders.author or issued_for & senders.author:
        return None
    cert_addr, author = min(issued_for), min(senders.author)
    if issued_for & senders.sender:
        return (f"signed by the Sender {cert_addr}, not by the From address {author} the letter is registered "
                f"under (ลงนามโดยผู้ส่งแทน {cert_addr} ไม่ใช่เจ้าของที่อยู่ผู้ส่ง {author} ที่ลงทะเบียนไว้)")
    return (f"signed with a certificate for {cert_addr}, not for the sender's address {author} "
            f"(ลงนามด้วยใบรับรองของ {cert_addr} ไม่ใช่ของที่อยู่ผู้ส่ง {author})")


def _verdicts(statuses, senders: _Senders | None, covers: tuple[str, ...],
              not_covered: tuple[str, ...], carried=()) -> list[SignatureVerdict]:
    """One verdict per signer. The letter is its From's when one valid signer's
    certificate names that address (or names none); the others are co-signers. When
    none does, every valid signature is said to be someone else's. With several
    signers, each message says whose signature it is."""
    verdicts = [_from_status(status, carried) for status in statuses]
    if senders is not None:
        mismatches = [_sender_mismatch(status.signing_cert, senders) if v.indication == TOTAL_PASSED else None
                      for status, v in zip(statuses, verdicts)]
        if not any(v.indication == TOTAL_PASSED and m is None for v, m in zip(verdicts, mismatches)):
            verdicts = [v if m is None else dataclasses.replace(
                v, indication=INDETERMINATE, sub_indication="SIG_CONSTRAINTS_FAILURE", review=True, message=m)
                for v, m in zip(verdicts, mismatches)]
    if len(verdicts) > 1:
        count = len(verdicts)
        verdicts = [v if not v.message else dataclasses.replace(
            v, message=f"signature {n} of {count} ({v.signer or 'unnamed signer'}): {v.message}")
            for n, v in enumerate(verdicts, 1)]
    return [dataclasses.replace(v, covers=covers, not_covered=not_covered) for v in verdicts]


def _from_status(status, carried=()) -> SignatureVerdict:
    from pyhanko.sign.ades.report import AdESFailure

    signer, org, issuer = cert_names(status.signing_cert)
    if not status.intact:
        ind, sub, msg = TOTAL_FAILED, "HASH_FAILURE", "the signed message was altered"
    elif not status.valid:
        ind, sub, msg = TOTAL_FAILED, "SIG_CRYPTO_FAILURE", "the signature value does not verify"
    elif status.trust_problem_indic is not None:
        indic = status.trust_problem_indic
        ind = TOTAL_FAILED if isinstance(indic, AdESFailure) else INDETERMINATE
        sub = known_sub_indication(indic.name)
        msg = trust_message(sub)
        if sub == "CHAIN_CONSTRAINTS_FAILURE" and status.signing_cert.subject == status.signing_cert.issuer:
            sub, msg = "NO_CERTIFICATE_CHAIN_FOUND", "self-signed certificate: no chain to a configured trust root"
        elif sub == "CERTIFICATE_CHAIN_GENERAL_FAILURE" and (
                early := validity_problem(status.signing_cert, carried)) is not None:
            ind, sub, msg = early
    elif (constraint := anchor_validity_problem(status.validation_path)
          or signer_usage_problem(status.validation_path, status.signing_cert)) is not None:
        ind, (sub, msg) = INDETERMINATE, constraint
    else:
        ind, sub, msg = TOTAL_PASSED, None, ""
    ts = status.timestamp_validity
    if ts is not None and ts.trusted:
        signed_at, source = ts.timestamp, "timestamp"
    else:
        signed_at = status.signer_reported_dt
        source = "claimed" if signed_at else None
        false_time = claimed_time_problem(status.signing_cert, signed_at) if ind == TOTAL_PASSED else None
        if false_time is not None:  # one policy with a PDF's signature (verify._from_status)
            ind, (sub, msg) = INDETERMINATE, false_time
    return SignatureVerdict(
        kind="smime", indication=ind, sub_indication=sub, signer=signer, organisation=org,
        issuer=issuer, signed_at=signed_at, signed_at_source=source, covers_whole_file=True,
        modifications=MOD_NONE, review=ind != TOTAL_PASSED, message=msg,
    )


def _carried_certs(signed_data) -> list:
    """The certificates a CMS signature carries (the signer's and its chain)."""
    try:
        return [c.chosen for c in signed_data["certificates"] if c.name == "certificate"]
    except Exception:
        return []
