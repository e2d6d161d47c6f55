"""What a per-IP limit counts for a request's address: the signup's (``newsletter.signup``) and
the new challenges' (``captcha.limit``) alike. The address itself comes from ``core.cdn``."""

from __future__ import annotations

import ipaddress


def ip_subject(source_ip: str | None) -> str:
    """What the per-IP limit counts: the address, or its /64 for IPv6 (one household or
    server gets a whole /64, so counting single IPv6 addresses would limit nothing)."""
    if not source_ip:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(source_ip)
    except ValueError:
        return "unknown"
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
