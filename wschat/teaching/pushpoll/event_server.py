"""The event source of the push-versus-polling experiment: one server, two interfaces.

``EventServer`` (a background thread) produces events and offers them two ways:

* REST: ``GET /events?after=N`` answers JSON with every event whose id is above ``N``;
* push: ``/ws`` is a WebSocket; each event is written to every connected client the moment
  it happens, as one text frame.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from wschat.core.defaults import WS_PATH
from wschat.server.thread import BackgroundServer

__all__ = ["EVENTS_PATH", "WS_PATH", "Event", "EventServer"]

#: The REST endpoint: ``GET /events?after=N``.
EVENTS_PATH = "/events"


@dataclass(frozen=True, slots=True)
class Event:
    """One event: ids count up from 1; ``t`` is ``time.perf_counter()`` when it happened."""

    id: int
    t: float

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object."""
        return {"id": self.id, "t": self.t}


class EventServer(BackgroundServer):
    """An event source served as REST (``GET /events?after=N``) and as push (``/ws``).

    ``with EventServer() as server:`` starts it on a free loopback port. ``publish()``
    makes one event now; ``start_stream(gaps)`` makes one event after each gap (seconds),
    in the background. A WebSocket client first gets ``{"type": "hello", "last": N}``
    and then, as a text frame, every event published after that.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._events: list[Event] = []
        self._clients: set[ServerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stream_done = threading.Event()

        async def run(ready: Callable[[int], None], stop: asyncio.Event) -> None:
            async with serve(
                self._handle, host, port, process_request=self._process_request
            ) as server:
                ready(server.sockets[0].getsockname()[1])
                try:
                    await stop.wait()
                finally:
                    for task in self._tasks:
                        task.cancel()

        super().__init__(run, host=host, name="wschat-pushpoll")

    @property
    def url(self) -> str:
        """The WebSocket URL, ``ws://HOST:PORT/ws``."""
        return f"ws://{self.host}:{self.port}{WS_PATH}"

    @property
    def http_url(self) -> str:
        """The REST URL, ``http://HOST:PORT/events``."""
        return f"http://{self.host}:{self.port}{EVENTS_PATH}"

    @property
    def events(self) -> list[Event]:
        """A copy of every event produced so far, oldest first."""
        return list(self._events)

    @property
    def clients(self) -> int:
        """How many WebSocket clients are connected and receiving events."""
        return len(self._clients)

    def publish(self) -> Event:
        """Produce one event now and push it to every WebSocket client; return it."""

        async def emit() -> Event:
            return self._emit()

        result: Event = self.call(emit)
        return result

    def start_stream(self, gaps: Sequence[float]) -> None:
        """Produce ``len(gaps)`` events in the background, waiting ``gaps[i]`` s before each.

        Returns at once; ``wait_stream()`` waits for the last event.
        """
        delays = [float(gap) for gap in gaps]
        if any(not (gap >= 0 and math.isfinite(gap)) for gap in delays):
            raise ValueError("gaps must be finite numbers >= 0")
        self._stream_done.clear()

        async def produce() -> None:
            try:
                for gap in delays:
                    await asyncio.sleep(gap)
                    self._emit()
            finally:
                self._stream_done.set()

        async def schedule() -> None:
            task = asyncio.get_running_loop().create_task(produce())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self.call(schedule)

    def wait_stream(self, timeout: float | None = None) -> bool:
        """Wait until the stream started by ``start_stream`` is over; False on timeout."""
        return self._stream_done.wait(timeout)

    # Everything below runs on the server's event loop.

    def _emit(self) -> Event:
        event = Event(len(self._events) + 1, time.perf_counter())
        self._events.append(event)
        # broadcast() writes synchronously: the frame is on its way before we return.
        broadcast(self._clients, json.dumps(event.to_json()))
        return event

    def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        url = urlsplit(request.path)
        if url.path == WS_PATH:
            return None  # go on with the WebSocket handshake
        if url.path != EVENTS_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        after_values = parse_qs(url.query).get("after", ["0"])
        try:
            after = int(after_values[-1])
        except ValueError:
            return connection.respond(HTTPStatus.BAD_REQUEST, "after must be an integer\n")
        # Ids are 1, 2, 3...: the events after ``after`` are a slice of the list.
        new = self._events[max(after, 0) :]
        body = json.dumps(
            {"events": [event.to_json() for event in new], "last": len(self._events)}
        ).encode()
        headers = Headers(
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                ("Connection", "close"),
            ]
        )
        return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, body)

    async def _handle(self, connection: ServerConnection) -> None:
        # Join first, then say hello, with nothing awaited in between: no event can slip
        # in between, and a client that has read its hello is sure to get every later event.
        self._clients.add(connection)
        broadcast([connection], json.dumps({"type": "hello", "last": len(self._events)}))
        try:
            await connection.wait_closed()
        finally:
            self._clients.discard(connection)
