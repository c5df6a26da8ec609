"""SPF (RFC 7208) for the connecting IP, MAIL FROM and HELO, by pyspf.

pyspf looks records up through its module-level `DNSLookup`; it is pointed here at
the configured resolver (the resolver of the calling thread), so that nameservers,
time limit and cache are the gateway's."""
from __future__ import annotations

import threading

import spf as pyspf

from gateway.sender.dns import DnsTemporary, Resolver

_local = threading.local()


def _lookup(name, qtype, strict=True, timeout=None):
    resolver: Resolver | None = getattr(_local, "resolver", None)
    if resolver is None:  # someone else's pyspf call in this process: pyspf's own way
        return _ORIGINAL(name, qtype, strict, timeout or 20)
    try:
        records = resolver.resolve(name, qtype)
    except DnsTemporary as exc:
        raise pyspf.TempError(f"DNS {exc}") from None
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


def check_spf(resolver: Resolver, ip: str | None, mail_from: str, helo: str | None) -> tuple[str, str | None, str]:
    """(result, the domain checked, explanation). No IP (IMAP, reprocessing): none."""
    domain = mail_from.rpartition("@")[2].lower() if "@" in mail_from else (helo or "").lower()
    if not ip:
        return "none", domain or None, "no connecting IP"
    _local.resolver = resolver
    try:
        # querytime bounds the whole evaluation (RFC 7208 4.6.4: at most 20 s).
        result, explanation = pyspf.check2(i=ip, s=mail_from or "", h=helo or "unknown",
                                           timeout=resolver.timeout, querytime=resolver.timeout * 4)
    except Exception as exc:  # pyspf's own failure on odd input: no SPF verdict
        return "permerror", domain or None, f"{type(exc).__name__}"
    finally:
        _local.resolver = None
    return result, domain or None, explanation


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
