"""The single-process server: login, the catch-up seam, the send path, keepalive, HTTP.

- :mod:`~wschat.server.app`: :class:`ChatServer`, the wiring of the parts and the connection;
- one phase each: :mod:`~wschat.server.login`, :mod:`~wschat.server.catchup` (the seam),
  :mod:`~wschat.server.live` (each request of a logged-in session);
- the send path: :mod:`~wschat.server.publisher` (append, then publish) ->
  :mod:`~wschat.server.bus` (:class:`LocalBus` here; :mod:`wschat.cluster` for several
  processes) -> :mod:`~wschat.server.router` (who gets what) -> :mod:`~wschat.server.writer`
  (the bytes, slow readers); :mod:`~wschat.server.registry` knows who is connected, and
  :mod:`~wschat.server.session` holds the rule of a session's two writers;
- :mod:`~wschat.server.supervise`: runs every long-lived task, so that a bug is loud;
- :mod:`~wschat.server.keepalive`, :mod:`~wschat.server.drain`, :mod:`~wschat.server.http`
  (plain HTTP on the same port: browser client, ``/healthz``, ``/metrics``);
- :mod:`~wschat.server.thread` and :mod:`~wschat.server.run`: in a background thread
  (notebooks, tests) or in the foreground until a signal (``python -m wschat serve``).
"""

from __future__ import annotations

from wschat.server.app import ChatServer
from wschat.server.config import ServerConfig
from wschat.server.thread import ServerThread

__all__ = ["ChatServer", "ServerConfig", "ServerThread"]
