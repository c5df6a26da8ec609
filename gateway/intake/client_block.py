"""The client a per-client limit counts: an IPv4 address, or the IPv6 network of
`ipv6_prefix` bits around an IPv6 one (Postfix's smtpd_client_ipv6_prefix_length).

One host on IPv6 owns a whole /64 (SLAAC, privacy addresses, or an attacker who binds a
new address per connection), so a limit keyed by the exact address is no limit there:
`max_connections_per_ip` and `data_checks_per_ip` count the /64 by default. An
IPv4-mapped address (::ffff:192.0.2.1, a dual-stack listener) is its IPv4 address.
The sender check (SPF, the notices) still sees the exact address."""
from __future__ import annotations

import ipaddress

IPV6_PREFIX = 64


def client_block(address: str | None, ipv6_prefix: int = IPV6_PREFIX) -> str | None:
    """The key a per-client limit counts `address` under; an address that does not
    parse (a Unix socket's path, a test's name) is its own key."""
    if not address:
        return address
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%lo: the zone is no part of the host
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6 and ipv6_prefix < 128:
        return str(ipaddress.ip_network(f"{ip}/{ipv6_prefix}", strict=False))
    return str(ip)
