"""SPF (RFC 7208) for the connecting IP, MAIL FROM and HELO, by pyspf.

pyspf looks records up through its module-level `DNSLookup`; it is pointed here at
the configured resolver (the resolver of the calling thread), so that nameservers,
time limit and cache are the gateway's."""
from __future__ import annotations

import re
import threading

import spf as pyspf

from gateway.sender.dmarc import thai_a_labels
from gateway.sender.dns import DnsMalformed, DnsTemporary, Resolver

_local = threading.local()


def _lookup(name, qtype, strict=True, timeout=None):
    resolver: Resolver | None = getattr(_local, "resolver", None)
    if resolver is None:  # someone else's pyspf call in this process: pyspf's own way
        return _ORIGINAL(name, qtype, strict, timeout or 20)
    try:
        records = resolver.resolve(name, qtype)
    except DnsTemporary as exc:
        raise pyspf.TempError(f"DNS {exc}") from None
    except DnsMalformed as exc:  # a name no answer can ever exist for (RFC 7208 4.3)
        raise pyspf.PermError(f"DNS {exc}") from None
    out = []
    for rdata in records:
        if qtype in ("A", "AAAA"):
            out.append(((name, qtype), rdata.address))
        elif qtype == "MX":
            out.append(((name, qtype), (rdata.preference, rdata.exchange)))
        elif qtype == "PTR":
            out.append(((name, qtype), rdata.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            out.append(((name, qtype), rdata.strings))
    return out


_ORIGINAL = pyspf.DNSLookup
pyspf.DNSLookup = _lookup


_HOSTNAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def spf_identity(mail_from: str, helo: str | None) -> str | None:
    """The domain SPF is evaluated for (RFC 7208 2.4): the MAIL FROM's domain, split at
    the first "@" exactly as pyspf splits it; the HELO name only for the null
    reverse-path. None when that is not a multi-label ASCII domain name (a MAIL FROM
    without "@" or without a domain, an empty label, ...): no SPF identity at all."""
    if mail_from:
        _, at, domain = mail_from.partition("@")
        if not at:
            return None
    else:
        domain = helo or ""
    # A Thai-script domain (SMTPUTF8) by its A-labels, the name its SPF record is at.
    domain = thai_a_labels(domain) or ""
    return domain if _HOSTNAME.fullmatch(domain) else None


def check_spf(resolver: Resolver, ip: str | None, mail_from: str, helo: str | None) -> tuple[str, str | None, str]:
    """(result, the domain pyspf evaluated, explanation). No IP (IMAP, reprocessing): none.

    The domain returned is exactly the one whose record was evaluated, and only such a
    domain may ever align with the From (a HELO name never stands in for a MAIL FROM
    that has no domain: pyspf would evaluate that text itself)."""
    domain = spf_identity(mail_from, helo)
    if domain is None:
        return "none", None, "no SPF identity (MAIL FROM or HELO without a domain)"
    if not ip:
        return "none", domain, "no connecting IP"
    _local.resolver = resolver
    try:
        # querytime bounds the whole evaluation (RFC 7208 4.6.4: at most 20 s).
        local, at, _ = mail_from.partition("@")
        query = pyspf.query(i=ip, s=f"{local}@{domain}" if at else "", h=helo or "unknown",
                            timeout=resolver.timeout, querytime=resolver.timeout * 4)
        evaluated = str(query.o or "").lower().rstrip(".")
        if evaluated != domain:  # never record one domain while pyspf judged another
            return "permerror", None, f"SPF identity {evaluated!r} is not {domain!r}"
        result, _, explanation = query.check()
    except Exception as exc:  # pyspf's own failure on odd input: no SPF verdict
        return "permerror", domain, f"{type(exc).__name__}"
    finally:
        _local.resolver = None
    return result, domain, explanation


def peer_ip(peer: str | None) -> str | None:
    """'192.0.2.1:4567' or '[2001:db8::1]:4567' (as intake records it) -> the IP."""
    if not peer or ";" in peer:  # IMAP intake records the mailbox, not an IP
        return None
    if peer.startswith("["):
        return peer[1:].partition("]")[0]
    if peer.count(":") == 1:
        return peer.split(":")[0]
    if peer.count(":") > 1:  # bare IPv6 with a port appended
        return peer.rpartition(":")[0]
    return peer
