"""Push versus polling, measured: how long does an event take to reach a client?

One ``EventServer`` (a background thread) produces events and offers them two ways:

* REST: ``GET /events?after=N`` answers JSON with every event whose id is above ``N``;
  a polling client asks every ``interval`` seconds.
* Push: ``/ws`` is a WebSocket; each event is written to every connected client the
  moment it happens, as one text frame.

``measure()`` runs one push client and one polling client per interval concurrently
against the same seeded event stream and returns a ``Comparison``; everything stays on
loopback. One job per module:

* :mod:`~wschat.teaching.pushpoll.event_server`: the event source (``EventServer``, ``Event``);
* :mod:`~wschat.teaching.pushpoll.clients`: the polling and push clients, counting bytes;
* :mod:`~wschat.teaching.pushpoll.stats`: the results and their statistics (``Comparison``);
* :mod:`~wschat.teaching.pushpoll.plot`: the table and chart in Portuguese;
* :mod:`~wschat.teaching.pushpoll.experiment`: ``measure()``, which runs them together.
"""

from wschat.teaching.pushpoll.clients import poll_events
from wschat.teaching.pushpoll.event_server import EVENTS_PATH, WS_PATH, Event, EventServer
from wschat.teaching.pushpoll.experiment import measure
from wschat.teaching.pushpoll.plot import Row
from wschat.teaching.pushpoll.stats import Comparison, MethodResult

__all__ = [
    "EVENTS_PATH",
    "WS_PATH",
    "Comparison",
    "Event",
    "EventServer",
    "MethodResult",
    "Row",
    "measure",
    "poll_events",
]
