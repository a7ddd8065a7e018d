"""Where a host is, judged from how it is written: this machine, the local network, or
somewhere else. Pure functions: no name is looked up.

- :func:`is_loopback_host`: names and addresses that always mean this machine. The server
  uses it against DNS rebinding (decisions.md, "Origin check"), the probe to stay on this
  machine under ``WSCHAT_OFFLINE=1``.
- :func:`is_local_host`: this machine or the local network, where a server has no public
  TLS certificate: a bare host written this way means ``ws://``, not ``wss://``
  (:mod:`wschat.core.urls`; decisions.md, "Command line").

A host may be written as in a URL or a Host header: with a port (``localhost:8765``,
``[::1]:8765``), an IPv6 address bare or in brackets, with a zone (``fe80::1%eth0``), any
letter case, a trailing dot (``localhost.``).
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_local_host", "is_loopback_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Private networks: RFC 1918 for IPv4, unique local addresses (RFC 4193) for IPv6.
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def is_loopback_host(host: str) -> bool:
    """True for a host that always means this machine: ``localhost`` and ``*.localhost``
    (RFC 6761), ``127.0.0.0/8`` and ``::1`` (also written as ``::ffff:127.0.0.1``)."""
    name = _name(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _address(name)
    return address is not None and address.is_loopback


def is_local_host(host: str) -> bool:
    """True for this machine (:func:`is_loopback_host`) or the local network: the private
    addresses (``10/8``, ``172.16/12``, ``192.168/16``, ``fc00::/7``), link-local ones
    (``169.254/16``, ``fe80::/10``), the unspecified ``0.0.0.0`` and ``::`` (a server bound
    to every interface prints them; connecting to them reaches this machine) and multicast
    DNS names (``*.local``, RFC 6762), which no public certificate can name.

    Any other name is not local, even one that resolves to a local address: only what is
    written counts, so the answer never depends on the network.
    """
    if is_loopback_host(host):
        return True
    name = _name(host)
    if name.endswith(".local"):
        return True
    address = _address(name)
    if address is None:
        return False
    return (
        address.is_link_local
        or address.is_unspecified
        or any(address in network for network in _PRIVATE_NETWORKS)
    )


def _name(host: str) -> str:
    """``host`` lowercased, without brackets, port or trailing dot."""
    name = host.strip().lower()
    if name.startswith("["):  # [IPv6] or [IPv6]:port
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:  # name:port or IPv4:port (a bare IPv6 has several colons)
        name = name.partition(":")[0]
    return name.removesuffix(".")


def _address(name: str) -> IPAddress | None:
    """The IP address ``name`` is written as (an IPv4 address mapped into IPv6 as the IPv4
    one), or None for a name."""
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id is not None:  # fe80::1%eth0: the zone says which link, not where
            return ipaddress.IPv6Address(name.partition("%")[0])
    return address
