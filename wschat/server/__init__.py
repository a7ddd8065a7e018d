"""The single-process chat server: login, the catch-up seam, delivery, keepalive, HTTP.

- :mod:`~wschat.server.app`: :class:`ChatServer`, the live phase and the wiring of the parts;
- :mod:`~wschat.server.login`, :mod:`~wschat.server.catchup`, :mod:`~wschat.server.delivery`,
  :mod:`~wschat.server.keepalive`: one phase or policy each;
- :mod:`~wschat.server.http`: plain HTTP on the same port (browser client, ``/healthz``);
- :mod:`~wschat.server.bus`: where entries and presence come from (:class:`LocalBus` here;
  :mod:`wschat.cluster` for several processes);
- :mod:`~wschat.server.thread` and :mod:`~wschat.server.run`: in a background thread
  (notebooks, tests) or in the foreground until a signal (``python -m wschat serve``).
"""

from __future__ import annotations

from wschat.server.app import ChatServer
from wschat.server.config import ServerConfig
from wschat.server.thread import ServerThread

__all__ = ["ChatServer", "ServerConfig", "ServerThread"]
