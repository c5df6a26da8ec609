"""[dns] and [sender] in the configuration (docs/sender-authenticity.md)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from gateway.config.bounds import Section
from gateway.config.views import SenderDerived

OnFail = Literal["quarantine", "warn"]


class DnsSection(Section):
    # "192.0.2.53", "192.0.2.53:5353" or "[2001:db8::53]:53"; empty: /etc/resolv.conf.
    nameservers: list[str] = Field(default_factory=list)
    timeout: float = Field(3.0, gt=0)  # seconds for one query, retries included
    cache_size: int = Field(10000, ge=0)  # answers kept for their TTL; 0 = no cache

    @field_validator("nameservers")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        from gateway.sender.dns import parse_nameserver

        for item in value:
            parse_nameserver(item)  # raises ValueError naming the bad entry
        return value


class SenderSection(Section, SenderDerived):
    enabled: bool = True
    authserv_id: str | None = None  # in Authentication-Results; default [smtp] hostname
    # What a DMARC failure does, by From domain ("*.go.th" matches every ministry and
    # department; the most specific pattern wins). Other domains: on_fail. Government
    # domains are also under the military's mi.th and the Thai-script รัฐบาล.ไทย and
    # ทหาร.ไทย (since session 39: a forged letter of one of them was registered).
    domains: dict[str, OnFail] = Field(
        default_factory=lambda: {"*.go.th": "quarantine", "bangkok.go.th": "quarantine",
                                 "*.mi.th": "quarantine", "*.รัฐบาล.ไทย": "quarantine",
                                 "*.ทหาร.ไทย": "quarantine"})
    on_fail: OnFail = "warn"
    # A From domain without a DMARC record, whose mail is not otherwise authenticated.
    no_dmarc: Literal["quarantine", "warn", "accept"] = "warn"
    # Honour a failing domain's own p=reject at the end of DATA (550 5.7.1).
    reject_at_data: bool = False
    check_deadline: float = Field(10.0, gt=0)  # seconds the check may take at DATA
    intake_workers: int = Field(4, ge=1, le=64)  # threads for checks at DATA
    # A letter whose check met a DNS failure waits and is checked again every
    # recheck_every seconds for up to recheck_for seconds; then it is registered as
    # "not verified" (never quarantined as forged because a resolver was slow).
    recheck_for: float = Field(3600.0, ge=0)
    recheck_every: float = Field(60.0, gt=0)
    # Forwarders whose ARC seal is believed (Microsoft 365, Google Workspace relays).
    trusted_arc_sealers: list[str] = Field(default_factory=list)
    # IMAP intake: the Authentication-Results of these authserv-ids (the mail server
    # in front of the central mailbox) are trusted for SPF (RFC 8601 section 5).
    upstream_authserv_ids: list[str] = Field(default_factory=list)
