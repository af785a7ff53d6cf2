"""Who is asking, as the throttles and rate limits count them."""

from __future__ import annotations

import ipaddress


def client_address(scope) -> str:
    """Whom a rate limit counts: the client's IPv4 address, or its IPv6 /64 network (one
    household or server gets a whole /64, so single IPv6 addresses cost an attacker nothing)."""
    client = scope.get("client")
    host = client[0] if client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
