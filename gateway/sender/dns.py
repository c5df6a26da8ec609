"""DNS for sender checks: dnspython with a bounded time per query and a TTL cache.

Every lookup of SPF, DKIM, ARC and DMARC goes through one `Resolver`, so that the
nameservers (`[dns] nameservers`) and the time limit are the configured ones and a
slow resolver shows up as `DnsTemporary`, which the checks turn into `temperror`,
never into a verdict about the sender."""
from __future__ import annotations

import ipaddress
import threading
import time

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver


class DnsTemporary(Exception):
    """The answer could not be had now (timeout, SERVFAIL, no nameserver answered)."""


class DnsMalformed(ValueError):
    """The name cannot be asked at all (a label over 63 octets, an empty label, a name
    over 255 octets, non-ASCII): no later answer can change that, so it is a permanent
    error of whatever named it (RFC 7208 4.3, RFC 6376 6.1.2), never temperror."""


def checked_name(name: str) -> dns.name.Name:
    """`name` as a DNS name, or DnsMalformed. Only hostname octets are asked about:
    anything else (non-ASCII, escapes) is malformed in SPF, DKIM and DMARC names."""
    text = name[:-1] if name.endswith(".") else name
    if not text or not text.isascii() or "\\" in text or any(c.isspace() for c in text):
        raise DnsMalformed(f"{name!r}: not a DNS name")
    try:
        parsed = dns.name.from_text(text)
    except (dns.exception.DNSException, ValueError, UnicodeError) as exc:
        raise DnsMalformed(f"{name!r}: {type(exc).__name__}") from None
    if any(len(label) == 0 for label in parsed.labels[:-1]):
        raise DnsMalformed(f"{name!r}: empty label")
    return parsed


def parse_nameserver(text: str) -> tuple[str, int]:
    """'192.0.2.53', '192.0.2.53:5353', '2001:db8::53' or '[2001:db8::53]:5353'."""
    text = text.strip()
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"nameserver {text!r}: expected [address]:port")
            port = _port(text, rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(text, port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"nameserver {text!r}: not an IP address (a name would need DNS itself)") from None
    return host, port


def _port(text: str, port_text: str) -> int:
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"nameserver {text!r}: bad port {port_text!r}")
    return int(port_text)


class Resolver:
    def __init__(self, nameservers: list[str] | None = None, timeout: float = 3.0,
                 cache_size: int = 10000):
        self.timeout = timeout
        if nameservers:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(*parse_nameserver(n))
                                    for n in nameservers]
        else:
            resolver = dns.resolver.Resolver()  # /etc/resolv.conf
        resolver.lifetime = timeout
        resolver.timeout = min(timeout, 2.0)  # per try; several tries fit in the lifetime
        if cache_size:
            resolver.cache = dns.resolver.LRUCache(cache_size)  # honours each record's TTL
        self._resolver = resolver
        self.queries = 0  # sent or answered from cache; tests and `rules check` show it
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, section) -> "Resolver":
        return cls(list(section.nameservers), section.timeout, section.cache_size)

    def resolve(self, name: str, rdtype: str, lifetime: float | None = None) -> list:
        """The records of one type; [] when the name or the type does not exist."""
        return self._resolve(name, rdtype, lifetime)[0]

    def exists(self, name: str, lifetime: float | None = None) -> bool:
        """False only when DNS says the name does not exist (NXDOMAIN: no record of any
        type at it or below it, RFC 8020); DnsTemporary when it did not say."""
        return self._resolve(name, "TXT", lifetime)[1]

    def _resolve(self, name: str, rdtype: str, lifetime: float | None) -> tuple[list, bool]:
        qname = checked_name(name)  # DnsMalformed: a permanent error, not a DNS failure
        with self._lock:
            self.queries += 1
        try:
            answer = self._resolver.resolve(qname, rdtype, raise_on_no_answer=False, search=False,
                                            lifetime=self.timeout if lifetime is None else lifetime)
        except dns.resolver.NXDOMAIN:
            return [], False
        except (dns.resolver.NoAnswer, dns.resolver.YXDOMAIN):
            return [], True
        except (dns.exception.Timeout, dns.resolver.NoNameservers,
                dns.resolver.LifetimeTimeout) as exc:
            raise DnsTemporary(f"{name} {rdtype}: {type(exc).__name__}") from None
        except (dns.name.NameTooLong, dns.name.LabelTooLong, dns.name.EmptyLabel) as exc:
            raise DnsMalformed(f"{name} {rdtype}: {type(exc).__name__}") from None
        except dns.exception.DNSException as exc:
            raise DnsTemporary(f"{name} {rdtype}: {type(exc).__name__}") from None
        return (list(answer) if answer.rrset is not None else []), True

    def txt(self, name: str, lifetime: float | None = None) -> list[bytes]:
        """Each TXT record's strings joined (a DKIM key is split into 255-byte pieces)."""
        return [b"".join(r.strings) for r in self.resolve(name, "TXT", lifetime)]

    def until(self, deadline: float | None) -> "Resolver | Bounded":
        """This resolver with every query ending by `deadline` (time.monotonic()), or
        itself when there is none."""
        return self if deadline is None else Bounded(self, deadline)


class Bounded:
    """A `Resolver` whose queries all end by one deadline: one letter's whole check
    (SPF, DKIM, ARC, DMARC) within `[sender] check_deadline`. Past it every query is
    DnsTemporary at once, which the checks turn into temperror, never into a verdict."""

    def __init__(self, resolver: Resolver, deadline: float):
        self.resolver = resolver
        self.deadline = deadline

    @property
    def timeout(self) -> float:
        return self.resolver.timeout

    @property
    def queries(self) -> int:
        return self.resolver.queries

    def _lifetime(self, name: str, lifetime: float | None) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DnsTemporary(f"{name}: past the check's deadline")
        return min(left, self.resolver.timeout if lifetime is None else lifetime)

    def resolve(self, name: str, rdtype: str, lifetime: float | None = None) -> list:
        return self.resolver.resolve(name, rdtype, self._lifetime(name, lifetime))

    def exists(self, name: str, lifetime: float | None = None) -> bool:
        return self.resolver.exists(name, self._lifetime(name, lifetime))

    def txt(self, name: str, lifetime: float | None = None) -> list[bytes]:
        return self.resolver.txt(name, self._lifetime(name, lifetime))

    def until(self, deadline: float | None) -> "Bounded":
        return self if deadline is None else Bounded(self.resolver, min(deadline, self.deadline))
