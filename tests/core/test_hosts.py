"""Where a host is, as written: this machine, the local network, or elsewhere (core/hosts.py)."""

from __future__ import annotations

import pytest

from wschat.core.hosts import is_local_host, is_loopback_host

#: (host as written, this machine?, this machine or the local network?)
HOSTS = [
    # this machine
    ("localhost", True, True),
    ("LOCALHOST:8765", True, True),
    ("localhost.", True, True),
    ("app.localhost:1", True, True),
    ("127.0.0.1", True, True),
    ("127.9.9.9:80", True, True),
    ("::1", True, True),
    ("[::1]:8765", True, True),
    ("::ffff:127.0.0.1", True, True),
    # the local network
    ("10.0.0.5:8765", False, True),
    ("172.16.0.1", False, True),
    ("172.31.255.255", False, True),
    ("192.168.0.10:8765", False, True),
    ("169.254.1.2", False, True),
    ("fe80::1", False, True),
    ("fe80::1%eth0", False, True),
    ("[fd12:3456::1]:8765", False, True),
    ("0.0.0.0", False, True),
    ("::", False, True),
    ("raspberrypi.local", False, True),
    ("Printer.Local.:631", False, True),
    # elsewhere
    ("websocket-fh6l.onrender.com", False, False),
    ("evil.example:8765", False, False),
    ("localhost.evil.example", False, False),
    ("local", False, False),
    ("mylocal", False, False),
    ("172.32.0.1", False, False),
    ("172.15.255.255", False, False),
    ("11.0.0.1", False, False),
    ("8.8.8.8", False, False),
    ("100.64.0.1", False, False),  # shared address space (carrier NAT): not one network
    ("[2001:db8::1]:8765", False, False),
    ("", False, False),
]


@pytest.mark.parametrize(("host", "loopback", "local"), HOSTS)
def test_where_a_host_is(host: str, loopback: bool, local: bool) -> None:
    assert is_loopback_host(host) is loopback
    assert is_local_host(host) is local


def test_this_machine_is_part_of_the_local_network() -> None:
    assert all(local for _, loopback, local in HOSTS if loopback)
