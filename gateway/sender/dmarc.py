"""DMARC (RFC 7489): the From domain's policy and whether an authenticated
identifier aligns with it.

The organizational domain comes from the public suffix list (publicsuffixlist, which
ships the list and is released with every change of it): `go.th` is a public suffix,
so `moi.go.th` and `bangkok.go.th` are organizations, and `saraban.moi.go.th`
aligns relaxed with `moi.go.th` but `moi.go.th.attacker.example` does not."""
from __future__ import annotations

import email.parser
import email.policy
import email.utils
import re
from dataclasses import dataclass
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from gateway.sender.dns import DnsTemporary, Resolver

POLICIES = ("none", "quarantine", "reject")


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def org_domain(domain: str) -> str:
    domain = domain.lower().rstrip(".")
    return _psl().privatesuffix(domain) or domain


def aligned(identifier: str | None, from_domain: str, mode: str) -> bool:
    if not identifier:
        return False
    identifier = identifier.lower().rstrip(".")
    if mode == "s":
        return identifier == from_domain
    return org_domain(identifier) == org_domain(from_domain)


def from_domains(raw: bytes) -> list[str] | None:
    """The domains of the From: addresses, from the raw header (RFC 7489 6.6.1).
    None when there is no usable From (no address, no domain)."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + b"\r\n\r\n")
    except Exception:
        return None
    values = [str(v) for v in headers.get_all("from") or []]
    if not values:
        return None
    domains = []
    for _, address in email.utils.getaddresses(values):
        if "@" not in address:
            return None
        domain = address.rpartition("@")[2].strip().lower().rstrip(".")
        if not re.fullmatch(r"[a-z0-9.-]+", domain or "-") or "." not in domain:
            return None
        domains.append(domain)
    return domains or None


@dataclass
class Record:
    policy: str  # p (or sp for a subdomain that found its organization's record)
    adkim: str
    aspf: str
    domain: str  # where it was found


def _parse(text: bytes) -> dict[str, str] | None:
    value = text.decode("utf-8", "replace").strip()
    if not re.match(r"(?i)v\s*=\s*DMARC1\s*(;|$)", value):
        return None
    tags: dict[str, str] = {}
    for part in value.split(";"):
        key, sep, val = part.partition("=")
        if sep:
            tags.setdefault(key.strip().lower(), val.strip())
    return tags


def _fetch(resolver: Resolver, domain: str) -> dict[str, str] | None:
    records = [t for t in (_parse(r) for r in resolver.txt(f"_dmarc.{domain}")) if t is not None]
    if len(records) != 1:  # none, or several: as if none (RFC 7489 6.6.3)
        return None
    return records[0]


def lookup(resolver: Resolver, from_domain: str) -> Record | None:
    """The record that governs `from_domain`: its own, else its organization's.
    Raises DnsTemporary when DNS did not answer."""
    tags = _fetch(resolver, from_domain)
    found, subdomain = from_domain, False
    if tags is None:
        org = org_domain(from_domain)
        if org != from_domain:
            tags = _fetch(resolver, org)
            found, subdomain = org, True
    if tags is None:
        return None
    policy = tags.get("p", "").lower()
    if subdomain and tags.get("sp", "").lower() in POLICIES:
        policy = tags["sp"].lower()
    if policy not in POLICIES:
        # An invalid p= with a rua= counts as p=none (RFC 7489 6.6.3); otherwise no record.
        if "rua" not in tags:
            return None
        policy = "none"
    adkim = "s" if tags.get("adkim", "r").lower() == "s" else "r"
    aspf = "s" if tags.get("aspf", "r").lower() == "s" else "r"
    return Record(policy, adkim, aspf, found)


__all__ = ["DnsTemporary", "Record", "aligned", "from_domains", "lookup", "org_domain"]
