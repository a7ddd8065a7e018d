"""The server's Prometheus metrics (PROTOCOL.md, "Metrics"), one registry per server.

Built on ``prometheus_client``: its counters, gauges and histogram, its text exposition
(:func:`prometheus_client.generate_latest`, format 0.0.4). Each :class:`Metrics` has its own
:class:`~prometheus_client.CollectorRegistry` rather than the library's global one, so several
servers in one process (tests, notebooks) never mix their numbers or clash on names.

On the fan-out path the counters move once per *burst*, by the burst's totals (see
:meth:`Metrics.burst`), never once per delivery: a broadcast to 10,000 connections costs two
counter updates, not 20,000 (docs/decisions.md, "Metrics per burst").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from wschat.store import Appended

__all__ = ["CONTENT_TYPE", "TASKS", "Metrics"]

#: The Content-Type of ``GET /metrics``: Prometheus' text format, version 0.0.4.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

#: The ``task`` labels of ``wschat_task_failures_total`` (see :mod:`wschat.server.supervise`):
#: the server's long-lived tasks, a connection's own handler, and the closes it starts.
TASKS = ("writer", "flusher", "tail", "heartbeat", "keepalive", "drain", "connection", "close")

#: Commit times in seconds: SQLite in WAL commits in well under a millisecond to a few ms,
#: Redis is a round trip; a commit past a second is an incident.
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Every metric of one server. Update through the methods; read with :meth:`render`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge(
            "wschat_connections", "Open WebSocket connections of this process.", registry=r)
        self.users_online = Gauge(
            "wschat_users_online", "Users with at least one session on this process.", registry=r)
        messages = Counter(
            "wschat_messages", "Messages appended to the log by this process.", ["kind"],
            registry=r)
        self.public = messages.labels(kind="public")
        self.private = messages.labels(kind="private")
        self.deliveries = Counter(
            "wschat_deliveries", "Message frames written to live sessions by fan-out.", registry=r)
        self.bytes_sent = Counter(
            "wschat_bytes_sent",
            "Bytes of frames written by fan-out and direct answers (not the catch-up backlog).",
            registry=r)
        self.slow_closes = Counter(
            "wschat_slow_closes", "Connections closed with 4008 (reader too slow).", registry=r)
        self.login_failures = Counter(
            "wschat_login_failures", "Logins refused for a wrong password or token.", registry=r)
        self.replayed = Counter(
            "wschat_replayed", "Messages sent in resume replays (welcome.recovered true).",
            registry=r)
        self.commit_seconds = Histogram(
            "wschat_commit_seconds", "Seconds per store commit (one burst of sends).",
            buckets=_COMMIT_BUCKETS, registry=r)
        self.task_failures = Counter(
            "wschat_task_failures",
            "Unexpected exceptions in the server's tasks, by task (each logged with its traceback).",
            ["task"], registry=r)
        for task in TASKS:  # shown at 0 from the start: an alert can watch each one
            self.task_failures.labels(task=task)

    def watch(self, connections: Callable[[], float], users_online: Callable[[], float]) -> None:
        """Read the two gauges from these functions at each scrape (nothing to keep in step)."""
        self.connections.set_function(connections)
        self.users_online.set_function(users_online)

    def burst(self, deliveries: int, nbytes: int) -> None:
        """One burst of fan-out: its message frames and bytes, added once."""
        if deliveries:
            self.deliveries.inc(deliveries)
        if nbytes:
            self.bytes_sent.inc(nbytes)

    def committed(self, results: Sequence[Appended], seconds: float) -> None:
        """One commit of the writer: its time, and its new entries by kind (resends of a ref
        already accepted created nothing and are not counted)."""
        self.commit_seconds.observe(seconds)
        private = sum(1 for r in results if r.created and r.entry.to is not None)
        public = sum(1 for r in results if r.created) - private
        if public:
            self.public.inc(public)
        if private:
            self.private.inc(private)

    def render(self) -> bytes:
        """The text exposition of every metric (for ``GET /metrics``)."""
        return generate_latest(self.registry)
