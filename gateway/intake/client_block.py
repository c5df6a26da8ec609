"""The client a per-client limit counts: an IPv4 address, or the IPv6 network of
`ipv6_prefix` bits around an IPv6 one (Postfix's smtpd_client_ipv6_prefix_length).

One host on IPv6 owns a whole /64 (SLAAC, privacy addresses, or an attacker who binds a
new address per connection), so a limit keyed by the exact address is no limit there:
`max_connections_per_ip` and `data_checks_per_ip` count the /64 by default. An
IPv4-mapped address (::ffff:192.0.2.1, a dual-stack listener) is its IPv4 address.
The sender check (SPF, the notices) still sees the exact address.

A relay every letter comes through (the central mail relay in front of the gateway) is
one IP for every sender behind it: `[smtp] client_limit_exceptions` lists the networks
the per-client limits do not count (Postfix's smtpd_client_event_limit_exceptions,
$mynetworks there); the total caps still hold for them."""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPV6_PREFIX = 64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_block(address: str | None, ipv6_prefix: int = IPV6_PREFIX) -> str | None:
    """The key a per-client limit counts `address` under; an address that does not
    parse (a Unix socket's path, a test's name) is its own key."""
    if not address:
        return address
    ip = _host(address)
    if ip is None:
        return address
    if ip.version == 6 and ipv6_prefix < 128:
        return str(ipaddress.ip_network(f"{ip}/{ipv6_prefix}", strict=False))
    return str(ip)


def _host(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%lo: the zone is no part of the host
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def networks(values: Iterable[str]) -> tuple[Network, ...]:
    """`values` as networks ("192.0.2.25", "10.0.0.0/8", "2001:db8::/32"); a bad one
    raises ValueError naming it."""
    found = []
    for value in values:
        try:
            found.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or network") from None
    return tuple(found)


class ClientKeys:
    """What the per-client limits count a connecting address as: its `client_block`,
    or None for an address in `exceptions` (a relay), which they do not count."""

    def __init__(self, ipv6_prefix: int = IPV6_PREFIX, exceptions: Iterable[str] = ()):
        self.ipv6_prefix = ipv6_prefix
        self.exceptions = networks(exceptions)

    def __call__(self, address: str | None) -> str | None:
        if self.exceptions and address:
            ip = _host(address)
            if ip is not None and any(ip in network for network in self.exceptions):
                return None
        return client_block(address, self.ipv6_prefix)
