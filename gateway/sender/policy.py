"""What the verdict does: a rule finding for the letter policy, and who may be answered.

The finding is named `sender_authenticity`; its verdict comes from the From domain's
entry in `[sender] domains` ("quarantine" -> fail, "warn" -> warn), and the letter
policy (rules/policy.py, default action "reject") then quarantines a fail, unless a
unit's own rule table says otherwise."""
from __future__ import annotations

import email.utils
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.config.views import a_labels
from gateway.sender.dmarc import BARE_CR, aligned, headers_of, org_domain, thai_shown
from gateway.sender.results import (CHECK_FAILED, NO_SUCH_DOMAIN, RECUT, WEAK_KEY_PREFIX, SenderAuth,
                                    refused_signature)
from rules.model import Finding

if TYPE_CHECKING:
    from gateway.sender.settings import SenderSection

RULE = "sender_authenticity"
FORGED_TH = "ไม่สามารถยืนยันได้ว่าส่งจากหน่วยงานนี้จริง"
FORGED_EN = "it cannot be verified that this letter was really sent by this agency"
UNSIGNED_PREFIX = "h= does not cover "
# Why a signature that verified does not count (gateway/sender/dkim.py), in Thai.
REFUSED_TH = {
    "l= covers only part of the body": "ลายมือชื่อครอบคลุมเนื้อหาเพียงบางส่วน (l=) ส่วนที่ต่อท้ายไม่ได้ลงลายมือชื่อ",
    "unreadable l=": "อ่านค่า l= ของลายมือชื่อไม่ได้",
    "rsa-sha1": "ลายมือชื่อใช้อัลกอริทึม rsa-sha1 ซึ่งเลิกใช้แล้ว",
    "key in testing mode (t=y)": "กุญแจของลายมือชื่ออยู่ในโหมดทดสอบ (t=y)",
}


# Why a From is unusable (gateway/sender/dmarc.py `author`), in Thai: the clerk's Thai
# reason carried these English words until the red team of 7 Dec 2026 ("... ชัดเจน (not one
# mailbox) ...").
UNUSABLE_FROM_TH = {
    "empty From": "ช่อง From ว่าง",
    "not one mailbox": "ไม่ใช่ที่อยู่อีเมลเพียงที่อยู่เดียว",
    "encoded words in the address": "ที่อยู่อีเมลเขียนด้วยรหัส encoded-word (RFC 2047)",
    "no address": "ไม่มีที่อยู่อีเมล",
    "the domain is not ASCII (an IDN must be written as A-labels, xn--)":
        "โดเมนมีอักขระที่ไม่ใช่ ASCII (ชื่อโดเมนภาษาไทยต้องเขียนในรูป xn--)",
    "not a domain name": "ส่วนโดเมนไม่ใช่ชื่อโดเมนที่ถูกต้อง",
    "no From": "ไม่มีหัวจดหมาย From",
    "several From fields": "มีหัวจดหมาย From มากกว่าหนึ่งช่อง",
    "the From the register reads is not the one checked": "ที่อยู่ผู้ส่งที่ทะเบียนอ่านได้ไม่ใช่ที่อยู่ที่ตรวจสอบ",
    "the header could not be read": "อ่านหัวจดหมายไม่ได้",
}


def _refused(auth: SenderAuth) -> tuple[str, str] | None:
    """(Thai, English) for the From's own signature that does not count, or None."""
    sig = refused_signature(auth)
    if sig is None or not sig.note:
        return None
    if sig.note == RECUT:
        th = ("ลายมือชื่อไม่ครอบคลุมหัวจดหมาย Content-Type และ Content-Type ของหนังสือฉบับนี้แบ่งเนื้อหาที่ลงลายมือชื่อไว้"
              "ต่างจากที่ผู้ลงนามส่งมา ส่วนที่อ่านได้จึงอาจไม่ใช่หนังสือของผู้ลงนาม")
        en = ("it does not sign Content-Type, and this letter's Content-Type cuts the signed body into other "
              "parts than the signer sent")
    elif sig.note.startswith(WEAK_KEY_PREFIX):
        bits = sig.note[len(WEAK_KEY_PREFIX):].partition(" ")[0]
        th = (f"กุญแจ RSA ของลายมือชื่อมีขนาดเพียง {bits} บิต ต่ำกว่า 1024 บิตที่มาตรฐาน (RFC 8301) กำหนด "
              f"ผู้อื่นอาจปลอมลายมือชื่อด้วยกุญแจนี้ได้ ผู้ส่งควรเปลี่ยนกุญแจ DKIM")
        en = (f"its RSA key has only {bits} bits, under the 1024 RFC 8301 requires, so others could forge it; "
              f"the sender should replace its DKIM key")
    elif sig.note.startswith(UNSIGNED_PREFIX):
        names = sig.note[len(UNSIGNED_PREFIX):]
        th = (f"ลายมือชื่อไม่ครอบคลุมหัวจดหมาย {names} ผู้อื่นจึงเปลี่ยนหัวจดหมายเหล่านี้ได้"
              f"โดยลายมือชื่อยังคงถูกต้อง")
        en = f"it does not sign {names}, which anyone could then change without breaking it"
    else:
        th, en = REFUSED_TH.get(sig.note, sig.note), sig.note
    return (f"ลายมือชื่อ DKIM ของ {sig.domain} ใช้ยืนยันไม่ได้: {th}",
            f"the DKIM signature of {sig.domain} does not count: {en}")


def _disguised(auth: SenderAuth) -> str | None:
    """A domain the letter names as its sender that is not plain ASCII: an invisible
    character in it (`moi.go.th\u200b`), a letter of another script (a Cyrillic о), a
    full-width dot. A mail client shows it as the agency's own; no BMA correspondent
    writes from such a domain. Until session 36 these escaped the quarantine list, which
    is matched in ASCII, and the forged ministry letter was registered with a warning."""
    for domain in (auth.from_domain, *auth.claimed_domains):
        if domain and not domain.isascii():
            return domain
    return None


def _embedded(auth: SenderAuth, settings: SenderSection) -> tuple[str, str] | None:
    """(the protected domain, the domain shown) when a domain the letter is shown or
    verified under starts with a protected domain though it is not under it:
    `saraban@moi.go.th.m0i-go.example` is the forger's own domain (m0i-go.example, its
    DKIM and DMARC passing), read by a clerk as the ministry's; so is
    `moi.go.th-gov.example`. No agency writes from such a name. Until session 50 it was
    registered "ผ่าน (m0i-go.example)" with no word."""
    # The verified domain too: it is what "ผ่าน (...)" names, and a signer's d= under the
    # forger's organisation aligns relaxed with the forger's From.
    shown = [auth.from_domain, auth.aligned_domain if auth.status == "pass" else None]
    for domain in (d.lower().rstrip(".") for d in shown if d):
        if settings.protected(domain):
            continue
        for at, char in enumerate(domain):
            # Where a label ends, or a hyphen reads as its end: two labels at least.
            if char in ".-" and "." in domain[:at] and (settings.protected(domain[:at])
                                                          or settings.protected_suffix(domain[:at])):
                return domain[:at], domain
    return None


def _registry_suffix(auth: SenderAuth, settings: SenderSection) -> str | None:
    """The domain the letter is shown or verified under when it is the suffix of the
    government's domains itself (go.th, mi.th, รัฐบาล.ไทย): `saraban@go.th` reads as the
    government's own address, and no agency has one there. It escaped the quarantine
    list, whose "*.go.th" matches only names under go.th: until the red team of
    7 Dec 2026 such a forgery was registered "ไม่มีข้อมูล (go.th)" with a receive number,
    the clerk told that the sending agency should set up DKIM and DMARC."""
    shown = [auth.from_domain, auth.aligned_domain if auth.status == "pass" else None]
    return next((d for d in shown if d and settings.protected_suffix(d)), None)


def _forged(verdict: str, th: str, en: str) -> Finding:
    """The finding of a sender the gateway cannot vouch for, its reason after FORGED_TH/EN."""
    return Finding(RULE, verdict, f"{FORGED_TH}: {th}", f"{FORGED_EN}: {en}")


def _quarantined_by_pct(auth: SenderAuth, settings: SenderSection) -> bool:
    """A p=reject the gateway honours (`reject_at_data`) that applies to only part of the
    failing mail (pct= under 100): the rest is quarantined (RFC 7489 6.6.4), and the
    gateway, which does not draw lots, quarantines it all instead of refusing it."""
    return (settings.reject_at_data and auth.dmarc == "fail" and auth.dmarc_policy == "reject"
            and auth.dmarc_pct not in (None, 100))


def finding_for(auth: SenderAuth | None, settings: SenderSection) -> Finding | None:
    if auth is None or not auth.dns_checked:
        return None
    embedded = _embedded(auth, settings)
    if embedded is not None:
        # Whatever its own domain's DMARC says: what it vouches for is not what a reader sees.
        protected, named = (thai_shown(d) for d in embedded)  # as the register shows the From
        return _forged("fail",
                       f"โดเมนผู้ส่ง {named} ขึ้นต้นด้วยโดเมน {protected} ของหน่วยงานราชการ "
                       f"แต่ไม่ใช่โดเมนของหน่วยงานนั้น ผู้อ่านอาจเข้าใจว่าส่งจาก {protected}",
                       f"the sender's domain {named} starts with the government "
                       f"domain {protected} but is not under it, and reads as {protected}")
    suffix = _registry_suffix(auth, settings)
    if suffix is not None:
        named = thai_shown(a_labels(suffix.lower().rstrip(".")))
        return _forged("fail",
                       f"โดเมนผู้ส่ง {named} เป็นโดเมนกลางที่หน่วยงานราชการใช้ตั้งโดเมนของตน (*.{named}) "
                       f"ไม่ใช่โดเมนของหน่วยงานใด ผู้อ่านอาจเข้าใจว่าเป็นหนังสือของทางราชการ",
                       f"the sender's domain {named} is the suffix under which government agencies have "
                       f"their own domains (*.{named}), no agency's own, and reads as the government's")
    if auth.status == "pass":
        return None
    domain = thai_shown(auth.from_domain or "-")  # a Thai-script domain as the register shows the From
    disguised = _disguised(auth)
    # An unusable From says so itself (below), held whatever its domain
    if disguised is not None and not (auth.reason or "").startswith("unusable From"):
        shown = disguised.encode("unicode_escape").decode("ascii")
        return _forged("fail",
                       f"โดเมนผู้ส่ง {shown} มีอักขระที่ไม่ใช่อักษรละตินธรรมดา หรืออักขระที่มองไม่เห็น "
                       f"จึงอาจแสดงผลเหมือนโดเมนของหน่วยงานอื่น",
                       f"the sender's domain {shown} holds characters that are not plain ASCII, "
                       f"or are invisible, and may show as another agency's domain")
    if auth.status == "fail" and (auth.reason or "").startswith(CHECK_FAILED):
        # The letter broke the check: nobody can say which agency sent it, whatever its
        # domain's settings (gateway/sender/check.py PipelineChecker.settle).
        return _forged("fail",
                       f"ระบบตรวจสอบผู้ส่งอ่านหัวจดหมายของหนังสือฉบับนี้ไม่ได้ "
                       f"จึงยืนยันไม่ได้ว่าส่งจากโดเมน {domain} จริง",
                       f"the sender check could not read this letter's header, so "
                       f"nothing confirms it came from {domain}")
    if auth.status == "fail":
        claimed = [auth.from_domain, *auth.claimed_domains]
        action = "quarantine" if disguised or any(settings.protected(d) or settings.protected_suffix(d)
                                                  for d in claimed if d) else \
            settings.action_for(auth.from_domain)
        if _quarantined_by_pct(auth, settings):
            action = "quarantine"
        policy = f" (p={auth.dmarc_policy})" if auth.dmarc_policy else ""
        if auth.dmarc_pct not in (None, 100):
            policy = f" (p={auth.dmarc_policy}; pct={auth.dmarc_pct})"
        why_th = (f"โดเมน {domain} กำหนดนโยบาย DMARC{policy} แต่หนังสือฉบับนี้ไม่มีลายมือชื่อ DKIM "
                  f"หรือผล SPF ที่ผ่านและตรงกับโดเมนผู้ส่ง")
        why_en = (f"{domain} publishes DMARC{policy} and this letter has no DKIM signature or SPF "
                  f"pass aligned with the From domain")
        reason = auth.reason or ""
        refused = _refused(auth)
        if refused is not None:
            why_th = f"โดเมน {domain} กำหนดนโยบาย DMARC{policy} และ{refused[0]}"
            why_en = f"{domain} publishes DMARC{policy} and {refused[1]}"
        if reason == NO_SUCH_DOMAIN:
            why_th = (f"โดเมนผู้ส่ง {domain} ไม่มีอยู่จริงในระบบ DNS (NXDOMAIN) "
                      f"จึงไม่มีหน่วยงานใดส่งหนังสือจากโดเมนนี้ได้")
            why_en = f"the sender's domain {domain} does not exist (DNS: NXDOMAIN), so no agency sends from it"
        elif reason.startswith("unusable From"):
            detail = reason.partition(": ")[2] or "-"
            why_th = (f"หัวจดหมาย From ไม่ได้ระบุผู้ส่งเพียงรายเดียวด้วยที่อยู่อีเมลที่อ่านได้ชัดเจน "
                      f"({UNUSABLE_FROM_TH.get(detail, detail)}) จึงยืนยันตามนโยบาย DMARC ไม่ได้")
            why_en = (f"the From header is not exactly one readable sender address ({detail}), "
                      f"so DMARC cannot vouch for it")
        elif reason == BARE_CR:
            why_th = ("หัวจดหมายมีบรรทัดที่จบด้วยอักขระ CR ตัวเดียว โปรแกรมแต่ละตัวจึงแบ่งบรรทัดหัวจดหมายไม่ตรงกัน "
                      "ระบบลงทะเบียนอาจอ่านช่องที่ไม่ได้รับการลงลายมือชื่อ")
            why_en = ("a header line ends in a bare CR, which readers split differently: the register may "
                      "read a field no signature covers")
        elif reason.startswith("duplicated header fields"):
            names = reason.partition(": ")[2]
            why_th = (f"หัวจดหมายมีช่อง {names} ซ้ำกันมากกว่าหนึ่งครั้ง "
                      f"โปรแกรมอ่านอีเมลอาจแสดงค่าที่ไม่ได้รับการลงลายมือชื่อ")
            why_en = f"the header repeats {names}: a mail client may show the copy no signature covers"
        return _forged("fail" if action == "quarantine" else "warn",
                       f"{why_th} กรุณาส่งจากระบบอีเมลของหน่วยงานโดยตรง",
                       f"{why_en}; please send from the agency's own mail system")
    if auth.status == "temperror":
        # Only after recheck_for: DNS failures are never a verdict of forgery. But a
        # domain whose forgeries are quarantined is registered only verified: a forger
        # chooses an envelope under it that never answers (`x@broken.moi.go.th`), and
        # until session 36 the unsigned forgery was registered with a warning. It is held
        # for a person instead, who can release it.
        held = settings.protected(auth.from_domain)
        return Finding(RULE, "fail" if held else "warn",
                       f"ยังไม่ได้ยืนยันผู้ส่ง ({domain}) เนื่องจากระบบ DNS ไม่ตอบสนอง"
                       + (" หนังสือจากโดเมนนี้ต้องยืนยันผู้ส่งได้ก่อนลงทะเบียน จึงพักไว้ให้เจ้าหน้าที่ตรวจ" if held else ""),
                       f"the sender ({domain}) could not be verified because DNS did not answer"
                       + ("; letters of this domain are registered only verified, so it is held for a person"
                          if held else ""))
    if settings.no_dmarc == "accept":
        return None
    refused = _refused(auth)
    if refused is not None:
        return Finding(RULE, "fail" if settings.no_dmarc == "quarantine" else "warn",
                       f"ยังไม่สามารถยืนยันผู้ส่งได้: โดเมน {domain} ไม่มีระเบียน DMARC และ{refused[0]}",
                       f"the sender could not be verified: {domain} has no DMARC record and {refused[1]}")
    return Finding(RULE, "fail" if settings.no_dmarc == "quarantine" else "warn",
                   f"ยังไม่สามารถยืนยันผู้ส่งได้: โดเมน {domain} ไม่มีระเบียน DMARC และหนังสือไม่มีลายมือชื่อ DKIM "
                   f"ที่ตรงกับโดเมนผู้ส่ง ขอให้หน่วยงานผู้ส่งตั้งค่า DKIM และ DMARC",
                   f"the sender could not be verified: {domain} has no DMARC record and the letter has "
                   f"no DKIM signature aligned with it; the sending agency should set up DKIM and DMARC")


ADDRESSED_ELSEWHERE = "addressed_elsewhere"
_RECIPIENT_FIELDS = ("to", "cc")


def addressed_elsewhere(auth: SenderAuth | None, raw: bytes, unit: str,
                        unit_of: Callable[[str], str | None]) -> Finding | None:
    """A warning for the clerk when a letter verified by its sender's DKIM signature names,
    in To and Cc, units of this gateway other than `unit` (the recipient unit's address)
    and not `unit` itself; `unit_of` gives the unit an address is (None: no unit).

    A DKIM signature verifies wherever the signed message is sent again: whoever holds a
    copy of the ministry's letter to Din Daeng (any of its recipients) can send those very
    bytes to Lat Krabang, where it was registered "ผ่าน (moi.go.th)" with no word and the
    ministry was sent the acknowledgement (red team of 7 Dec 2026). The To and Cc the
    signature covers (the last fields of each name h= counts; a field added above them is
    nobody's) say where the signer sent it. Not refused: a sender may send a copy to a unit
    as Bcc. A letter that also passed SPF aligned came from the sender's own mail server,
    not from a third party, and is not questioned."""
    if auth is None or not auth.verified or auth.arc_trusted:
        return None
    signers = [s for s in auth.dkim if s.aligned]
    if not signers or (auth.spf == "pass" and aligned(auth.spf_domain, auth.from_domain or "", "r")):
        return None
    try:
        items = [(k.lower(), str(v)) for k, v in headers_of(raw).raw_items()]
    except Exception:  # noqa: BLE001 - a header the parser refuses names nobody
        return None
    values: list[str] = []
    signed = False
    for name in _RECIPIENT_FIELDS:
        fields = [v for k, v in items if k == name]
        count = max(s.recipient_fields.count(name) for s in signers)
        signed = signed or (count > 0 and bool(fields))
        values += fields[-count:] if count else fields
    named = list(dict.fromkeys(found for _, address in email.utils.getaddresses(values)
                               if (found := unit_of(address.strip()))))
    if not named or unit in named:
        return None
    shown = ", ".join(named[:3]) + (" ..." if len(named) > 3 else "")
    signer = signers[0].domain
    if signed:
        said_th = f"ลายมือชื่อ DKIM ของ {signer} รับรองว่าหนังสือฉบับนี้ส่งถึง {shown}"
        said_en = f"the DKIM signature of {signer} vouches that this letter was sent to {shown}"
    else:
        said_th = f"หนังสือฉบับนี้ระบุผู้รับ (To/Cc) เป็น {shown}"
        said_en = f"this letter names {shown} as its recipients (To/Cc)"
    return Finding(ADDRESSED_ELSEWHERE, "warn",
                   f"{said_th} ไม่ใช่ {unit} อาจเป็นสำเนาหนังสือที่ผู้อื่นนำมาส่งซ้ำถึงหน่วยงานนี้ "
                   f"หรือผู้ส่งส่งสำเนาลับ (Bcc) ถึงหน่วยงานนี้ โปรดตรวจสอบกับผู้ส่งก่อนดำเนินการ",
                   f"{said_en}, not to {unit}: it may be a copy someone else sent on to this unit, or the "
                   f"sender sent it to this unit as Bcc; check with the sender before acting on it")


def _domain(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rpartition("@")[2].lower().rstrip(".")


def notice_refusal(auth: SenderAuth | None, to: str | None, settings: SenderSection) -> str | None:
    """Why a notice must not go to `to`, or None. A notice from the unit's official
    address to a forged sender's victim is backscatter: only a verified sender, at an
    address of its verified domain, is answered; an unverified one only when its
    domain is not one whose forgeries are quarantined, its SPF did not fail, and only
    at that same domain."""
    if auth is None or not auth.dns_checked:
        return None
    to_domain = _domain(to)
    if to_domain is None:
        return "no_address"
    if auth.status == "pass":
        if auth.aligned_domain and org_domain(to_domain) == org_domain(auth.aligned_domain):
            return None
        return "address_not_verified"
    if auth.status in ("fail", "temperror"):
        # A temperror is nobody's verdict yet: whoever the From names may be forged.
        return "sender_not_verified"
    if settings.protected(auth.from_domain) or settings.protected(to_domain):
        return "sender_not_verified"
    if auth.spf in ("fail", "softfail"):
        # The envelope's own domain said this client is not (or probably not) its mail
        # server: the From beside it, in the same organisation, is the forger's choice
        # of victim, and the notice would be backscatter.
        return "sender_not_verified"
    if auth.from_spf != "none":
        # The From's domain names its mail servers (SPF) and none of them sent this (no
        # aligned pass), or DNS did not say: an envelope on a name of its choosing
        # (`bounce.victim.example`, SPF none) made the forger's victim get an
        # acknowledgement until session 36. A domain that publishes no SPF said nothing.
        return "sender_not_verified"
    if auth.from_domain and org_domain(to_domain) == org_domain(auth.from_domain):
        return None
    return "address_not_verified"
