"""The verdict on who sent a letter, and its RFC 8601 Authentication-Results header.

`SenderAuth` is stored as JSON with the spool entry (what intake saw) and in the
register (`letters.sender_auth`). `status` is what a person reads:
  * "pass"  — ผ่าน: an aligned DKIM signature or SPF pass proves the From domain
              (`aligned_domain`), or a trusted forwarder's ARC seal vouches for it;
  * "fail"  — ไม่ผ่าน: the From domain publishes DMARC and the letter fails it;
  * "none"  — ไม่มีข้อมูล: nothing proves it and no DMARC record says it must be;
  * "temperror" — DNS did not answer in time: no verdict, the letter waits.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import authres
import authres.arc
import authres.dmarc

from gateway.sender.dmarc import aligned, thai_a_labels, thai_shown

# The start of SenderAuth.reason when the check itself failed on the letter (check.py).
CHECK_FAILED = "check failed"
# SenderAuth.reason when the From domain does not exist (NXDOMAIN; check.py, policy.py).
NO_SUCH_DOMAIN = "the From domain does not exist (NXDOMAIN)"
# Why a signature with Content-Type left out of h= does not count (dkim.py, policy.py).
RECUT = "h= does not cover Content-Type, and the letter's Content-Type cuts the signed body elsewhere"
# The note of a signature that verified with an RSA key under 1024 bits (dkim.py _weak_key, policy.py).
WEAK_KEY_PREFIX = "RSA key of "
WEAK_KEY_SUFFIX = " bits, under the 1024 of RFC 8301"

STATUS_TH = {"pass": "ผ่าน", "fail": "ไม่ผ่าน", "none": "ไม่มีข้อมูล", "temperror": "ไม่มีข้อมูล"}
STATUS_EN = {"pass": "verified", "fail": "not verified", "none": "no information",
             "temperror": "no information (DNS did not answer)"}


@dataclass
class DkimSignature:
    domain: str
    selector: str
    result: str  # pass fail policy permerror temperror
    aligned: bool = False
    note: str | None = None  # policy: why a signature that verified does not count
    # h= names Reply-To: the signer vouches for where replies go (Gmail signs it,
    # Microsoft 365 does not); gateway/delivery/folder_copy.py keeps only such a Reply-To.
    signs_reply_to: bool = False
    # How often h= names To and Cc ("to", "to", "cc"): a signature covers the last so
    # many fields of each name, the recipients the signer sent the letter to. A letter
    # sent on to another unit keeps them (gateway/sender/policy.py `addressed_elsewhere`).
    recipient_fields: list[str] = field(default_factory=list)


@dataclass
class SenderAuth:
    status: str = "none"
    from_domain: str | None = None
    aligned_domain: str | None = None  # the domain the pass was aligned with
    spf: str = "none"  # pass fail softfail neutral none temperror permerror
    spf_domain: str | None = None  # smtp.mailfrom's domain (or the HELO name)
    spf_source: str = "smtp"  # smtp | upstream (IMAP: trusted Authentication-Results) | none
    dkim: list[DkimSignature] = field(default_factory=list)
    arc: str = "none"  # pass fail none
    arc_sealer: str | None = None  # the newest ARC-Seal's d=
    arc_trusted: bool = False  # the sealer is in [sender] trusted_arc_sealers and vouches
    dmarc: str = "none"  # pass fail none temperror permerror
    dmarc_policy: str | None = None  # p= (or sp=) that applies: none quarantine reject
    dmarc_domain: str | None = None  # where the record was found
    dmarc_pct: int | None = None  # pct= of that record (None: none, or before session 39: 100)
    reason: str | None = None  # why, in a few English words, for logs and the header
    # An unusable From (status fail, dmarc permerror): every domain the letter names as
    # its sender anyway (in the From, decoded or not, and the envelope).
    claimed_domains: list[str] = field(default_factory=list)
    # Whether the From's domain or its organisation publishes SPF (a "v=spf1" record):
    # "published", "none", or None when not looked up (a verdict other than "none", or a
    # record written before session 36). An unverified sender is answered only at a
    # domain that publishes none (gateway/sender/policy.py `notice_refusal`).
    from_spf: str | None = None
    checked_at: str | None = None
    dns_checked: bool = True  # False: `rules check` without --dns

    @property
    def verified(self) -> bool:
        return self.status == "pass"

    @property
    def label_th(self) -> str:
        text = f"ยืนยันผู้ส่ง: {STATUS_TH.get(self.status, 'ไม่มีข้อมูล')}"
        # A Thai-script domain in Thai, as จาก shows the From beside it (judged by its A-labels).
        if self.status == "pass" and self.aligned_domain:
            text += f" ({thai_shown(self.aligned_domain)})"
        elif self.from_domain and self.status != "pass":
            text += f" ({thai_shown(self.from_domain)})"
        return text

    @property
    def label_en(self) -> str:
        text = f"sender {STATUS_EN.get(self.status, 'no information')}"
        if self.status == "pass" and self.aligned_domain:
            text += f" ({self.aligned_domain})"
        return text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "SenderAuth | None":
        if not data:
            return None
        data = dict(data)
        data["dkim"] = [DkimSignature(**d) for d in data.get("dkim") or []]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def stamp(self) -> "SenderAuth":
        self.checked_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        return self

    def header_value(self, authserv_id: str) -> str:
        """The value of `Authentication-Results:` (RFC 8601), rendered by authres."""
        results: list = []
        if self.spf_source == "smtp":
            results.append(authres.SPFAuthenticationResult(
                result=self.spf, smtp_mailfrom=self.spf_domain or None))
        elif self.spf_source == "upstream":
            results.append(authres.SPFAuthenticationResult(
                result=self.spf, smtp_mailfrom=self.spf_domain or None,
                result_comment="from upstream Authentication-Results"))
        for sig in self.dkim:
            results.append(authres.DKIMAuthenticationResult(
                result=sig.result, header_d=sig.domain, header_s=sig.selector or None))
        if not self.dkim:
            results.append(authres.DKIMAuthenticationResult(result="none"))
        results.append(authres.arc.ARCAuthenticationResult(
            result=self.arc, header_as_d=self.arc_sealer or None))
        results.append(authres.dmarc.DMARCAuthenticationResult(
            result=self.dmarc, header_from=self.from_domain or None,
            policy=self.dmarc_policy or None))
        header = authres.all_features().header(authserv_id=authserv_id, results=results)
        text = str(header)
        prefix = "Authentication-Results: "
        return text[len(prefix):] if text.startswith(prefix) else text

    def verified_header(self) -> str:
        """X-Saraban-Sender-Verified: what the clerk sees in the mail client."""
        word = {"pass": "pass", "fail": "fail"}.get(self.status, "none")
        domain = self.aligned_domain if self.status == "pass" else self.from_domain
        return f"{word}" + (f" ({domain})" if domain else "") + f"; {self.label_th}"


def refused_signature(auth: SenderAuth) -> DkimSignature | None:
    """A signature of the From's own organization that verified but does not count
    (`policy`, with its `note`): the reason a person is shown instead of "no signature"."""
    if not auth.from_domain:
        return None
    return next((s for s in auth.dkim if s.result == "policy" and s.note
                 and aligned(s.domain, auth.from_domain, "r")), None)


def reply_to_vouched(data: dict | None) -> bool:
    """Whether the letter's Reply-To is the verified agency's own: a signature that
    passed, aligned with the verified domain, names Reply-To in h=. A Reply-To added to a
    replayed letter whose signature leaves it out is anyone's (session 15)."""
    auth = SenderAuth.from_dict(data)
    if auth is None or not auth.verified or not auth.aligned_domain:
        return False
    return any(s.result == "pass" and s.signs_reply_to and aligned(s.domain, auth.aligned_domain, "r")
               for s in auth.dkim)


def receipt_goes_to_sender(data: dict | None, from_address: str | None, receipt_to: list[str]) -> bool:
    """Whether a read-receipt request (Disposition-Notification-To and its older
    spellings) names only the verified sender's own From address: a receipt to any
    other address, added to a replayed or forged letter, tells a stranger that and when
    the clerk opened it (session 16)."""
    auth = SenderAuth.from_dict(data)
    if auth is None or not auth.verified or not from_address or not receipt_to:
        return False
    sender = from_address.strip().lower()
    # A Thai-script From is judged by its A-labels (dmarc.thai_a_labels).
    return thai_a_labels(sender.rpartition("@")[2]) == (auth.from_domain or "").lower() and \
        all(a.strip().lower() == sender for a in receipt_to)


# An address in a display name, as a reader takes it: "@" or a look-alike of it (NFKC
# makes the full-width and small commercial at an "@", and full-width dots dots).
_NAME_ADDRESS = re.compile(r"[^\s<>\"'(),;:@]+@[^\s<>\"'(),;:@]+")


def misleading_name(from_value: str) -> tuple[str, str] | None:
    """(display name, address) when the one From's display name (RFC 2047 decoded) holds
    an address that is not that From's own address, else None. A mail client shows the
    name alone: `"saraban@moi.go.th" <saraban@m0i-go.example>` reads as the ministry's in
    the clerk's folder, though the register judged (and verified) m0i-go.example."""
    import email.header
    import email.utils
    import unicodedata

    # The address is read before decoding (an encoded "@" in the name is no address
    # separator), the name then decoded as a mail client shows it.
    found = email.utils.getaddresses([re.sub(r"\r?\n|\r", "", from_value)])
    if len(found) != 1 or "@" not in found[0][1]:
        return None  # no single address: the register already refused this From
    name, address = found[0]
    try:
        name = str(email.header.make_header(email.header.decode_header(name)))
    except Exception:  # noqa: BLE001 - undecodable words: judged as written
        pass
    shown = unicodedata.normalize("NFKC", name)
    own = address.strip().lower().rstrip(".")
    for claimed in _NAME_ADDRESS.findall(shown):
        if claimed.strip(".").lower() != own:
            return name, address
    return None


def sender_field_vouched(data: dict | None, addresses: list[str]) -> bool:
    """Whether a Sender field (RFC 5322 3.6.2) names one address of the verified
    organisation. DMARC judges From only; Outlook shows "<Sender> on behalf of <From>",
    so `Sender: saraban@moi.go.th` on a forger's own verified letter read as the
    ministry's delegation in the clerk's folder (session 50)."""
    auth = SenderAuth.from_dict(data)
    if auth is None or not auth.verified or not auth.aligned_domain or len(addresses) != 1:
        return False
    domain = addresses[0].strip().rpartition("@")[2]
    return bool(domain) and aligned(thai_a_labels(domain) or domain, auth.aligned_domain, "r")


def not_checked(from_domain: str | None, reason: str) -> SenderAuth:
    """`rules check` without --dns: DKIM and DMARC need DNS and were not looked at."""
    return SenderAuth(status="none", from_domain=from_domain, spf_source="none", reason=reason,
                      dns_checked=False)


def authserv_id(settings) -> str:
    """This gateway's name in Authentication-Results: [sender] authserv_id, else the
    SMTP hostname."""
    return settings.sender.authserv_id or settings.smtp.hostname


def sender_headers(data: dict | None, serv_id: str) -> list[tuple[str, str]]:
    """The folder copy's Authentication-Results and X-Saraban-Sender-Verified."""
    auth = SenderAuth.from_dict(data)
    if auth is None:  # the check was off ([sender] enabled = false) when it was registered
        # Said, not left blank: the copy's Subject and headers are the gateway's, so a mail
        # client (or an add-on) verifying the sender's DKIM signature on it sees it fail,
        # and until session 44 nothing in the copy told a clerk why, nor that nobody checked.
        return [("Authentication-Results", f"{serv_id}; none (sender not checked: [sender] enabled = false;"
                 " DKIM signatures do not verify on this copy, whose Subject and headers the gateway wrote)"),
                ("X-Saraban-Sender-Verified", f"none; {NOT_CHECKED_TH} / not checked")]
    return [("Authentication-Results", auth.header_value(serv_id)),
            ("X-Saraban-Sender-Verified", auth.verified_header())]


def _skip_cfws(text: str, pos: int) -> int:
    """The position after white space and (nested) comments from `pos` on."""
    depth = 0
    while pos < len(text):
        char = text[pos]
        if depth:
            if char == "\\":
                pos += 1
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
        elif char == "(":
            depth = 1
        elif not char.isspace():
            break
        pos += 1
    return pos


def results_authserv_id(value: str) -> str | None:
    """The authserv-id of an Authentication-Results value (RFC 8601 2.2: [CFWS]
    authserv-id, a token or a quoted-string, which comments may surround), lower case,
    without a trailing dot; read without parsing the results, which may be anything."""
    pos = _skip_cfws(value, 0)
    if value[pos:pos + 1] == '"':
        end, out = pos + 1, []
        while end < len(value) and value[end] != '"':
            if value[end] == "\\":
                end += 1
            out.append(value[end:end + 1])
            end += 1
        serv_id = "".join(out)
    else:
        match = re.match(r'[^\s;()"]+', value[pos:])
        serv_id = match.group(0) if match else ""
    serv_id = serv_id.strip().lower().rstrip(".")
    return serv_id or None


def forged_results(header_line: bytes, serv_id: str, also: tuple[str, ...] = ()) -> bool:
    """An incoming Authentication-Results that claims to be ours (`serv_id`), or of one
    of the servers in `also`: the sender wrote it (RFC 8601 section 5 says to delete
    it). Also one whose authserv-id cannot be read."""
    name, _, value = header_line.partition(b":")
    if name.strip().lower() != b"authentication-results":
        return False
    found = results_authserv_id(value.decode("utf-8", "replace"))
    return found is None or found in {i.lower().rstrip(".") for i in (serv_id, *also)}


def upstream_results_forged(data: dict | None, upstream_ids: list[str]) -> tuple[str, ...]:
    """The upstream mail servers ([sender] upstream_authserv_ids) whose
    Authentication-Results in this letter the sender wrote: all of them, unless the
    check read the letter's one result of theirs and believed it (IMAP intake through
    them, `spf_source` "upstream"). They are the servers of the gateway's own mail
    system, whose results the unit's mail client may be set to trust; a letter that came
    straight to the gateway over SMTP never passed them. Until the red team of 7 Dec 2026
    the folder copy of a letter registered "ไม่มีข้อมูล (dla.go.th)" kept the sender's
    `Authentication-Results: mx.bangkok.go.th; dkim=pass ...; dmarc=pass` below the
    gateway's own. None when the sender was not checked ([sender] enabled = false)."""
    auth = SenderAuth.from_dict(data)
    if auth is None or auth.spf_source == "upstream":
        return ()
    return tuple(upstream_ids)


NOT_CHECKED_TH = "ยืนยันผู้ส่ง: ไม่ได้ตรวจ"  # the check was off when the letter was registered


def sender_label(data: dict | None) -> str:
    """ยืนยันผู้ส่ง: ผ่าน (moi.go.th) / ไม่ผ่าน (moi.go.th) / ไม่มีข้อมูล, for the register."""
    auth = SenderAuth.from_dict(data)
    return auth.label_th if auth is not None else "ยืนยันผู้ส่ง: ไม่มีข้อมูล"


def sender_detail(data: dict | None) -> str:
    """One line for `register show`: the label, then SPF/DKIM/ARC/DMARC as checked."""
    auth = SenderAuth.from_dict(data)
    if auth is None:
        return "ไม่มีข้อมูล (not checked)"
    dkim = ", ".join(f"{s.domain}={s.result}" + (f" ({s.note})" if s.note else "") for s in auth.dkim) or "none"
    text = (f"{auth.label_th.split(': ', 1)[1]} / {auth.label_en}; spf={auth.spf} dkim=[{dkim}] "
            f"arc={auth.arc} dmarc={auth.dmarc}")
    if auth.dmarc_policy:
        text += f" (p={auth.dmarc_policy})"
    return text
