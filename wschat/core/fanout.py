"""Fan-out's pure half: each frame encoded once, each burst gathered once per connection.

websockets' ``broadcast()`` encodes the text once but still builds and serializes a frame per
connection, then makes one ``write`` (one system call) per frame. For a chat server most of
the CPU of a delivery goes there (benchmarks/README.md), so this module

- encodes a server text frame once, as bytes (:func:`text_frame`), and writes those same
  bytes to every connection (:func:`wschat.server.writer.put_each`);
- gathers what one burst of messages sends to each connection (:class:`Burst`) so that a
  connection gets ONE write per burst, its frames joined, in log order.

The invariant that makes shared frame bytes safe (RFC 6455 5.2): a frame from a server is
never masked, so without extensions its bytes depend only on FIN, opcode and payload, not on
the connection. wschat's server (1) negotiates no extension (``compression=None``, nothing
else configured), (2) never sends fragmented messages (no ``send`` of an iterable), and (3)
writes only to connections whose websockets state is OPEN, straight to the transport and
synchronously, so its bytes and websockets' own (pings, pongs, close) reach the socket in the
order they were produced. A connection that breaks (1) or (2) would be written through
websockets instead: :func:`~wschat.server.writer.put_each` checks (1) and skips it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Hashable, Iterable
from itertools import islice
from typing import Generic, TypeVar

from wschat.core.wire import Opcode, encode_frame

__all__ = ["Burst", "Deferred", "text_frame"]

S = TypeVar("S", bound=Hashable)


def text_frame(text: str) -> bytes:
    """One final, unmasked text frame with ``text`` as its payload (server to client)."""
    return encode_frame(Opcode.TEXT, text)


class Burst(Generic[S]):
    """The frames that one burst of messages sends, per session, in log order.

    Most frames of a burst go to every live session (public messages): they are kept once,
    in ``shared``. A session that gets anything else (its own message with its ``ref``, a
    private message) gets its own list, started from a copy of ``shared`` at that point, and
    from then on receives every frame explicitly. Build the burst without awaiting (the set
    of sessions must not change meanwhile), then write it with :meth:`joined`.
    """

    __slots__ = ("own", "shared")

    def __init__(self) -> None:
        self.shared: list[bytes] = []
        self.own: dict[S, list[bytes]] = {}

    def to_everyone(self, frame: bytes) -> None:
        """``frame`` goes to every live session (those with their own list included)."""
        self.shared.append(frame)
        for frames in self.own.values():
            frames.append(frame)

    def to_one(self, session: S, frame: bytes) -> None:
        """``frame`` goes to ``session`` only, after what it already gets in this burst."""
        frames = self.own.get(session)
        if frames is None:
            frames = self.own[session] = self.shared.copy()
        frames.append(frame)

    def to_everyone_but(self, session: S, frame: bytes, instead: bytes) -> None:
        """``frame`` to every live session, except ``instead`` to ``session``."""
        self.to_one(session, instead)
        self.shared.append(frame)
        for other, frames in self.own.items():
            if other is not session:
                frames.append(frame)

    def joined(self) -> tuple[bytes, dict[S, bytes]]:
        """What every other live session gets (``b""`` if nothing), and each own session's."""
        return b"".join(self.shared), {s: b"".join(f) for s, f in self.own.items()}


class _Group(Generic[S]):
    """Sessions that all still need the same bytes."""

    __slots__ = ("data", "members")

    def __init__(self, data: bytes, members: dict[S, None]) -> None:
        self.data = data
        self.members = members


class Deferred(Generic[S]):
    """Shared frames written to many sessions a chunk at a time, overtaken safely.

    Writing one broadcast to 10,000 connections takes tens of milliseconds of system calls;
    done in one go, a private message arriving meanwhile would wait for all of it. Instead
    the shared bytes of a burst wait here, per *group* of sessions that need the same bytes,
    and :meth:`flush_some` writes them a chunk of sessions at a time between other work.

    Order is kept per session: anything written to a session through :meth:`write_now` or as
    its own bytes in :meth:`add` is preceded by what that session still has pending here, in
    the same write. A newer burst's shared bytes are appended to every pending group, so a
    session never gets a newer frame before an older one.

    ``write_each(sessions, data)`` writes the same bytes to each of ``sessions``: a chunk of a
    group is handed over in one call, so that the caller's loop over them (compiled, in the
    server: :mod:`wschat.server.writer`) runs without a Python call per session. It must not
    raise: the sessions are settled (no longer owed these bytes) before the call, so a
    session it could not write to is its own business to settle (the server closes it with
    1011, so that its client resumes), and the other sessions of the call still get theirs.
    """

    __slots__ = ("_group_of", "_groups", "_write_each")

    def __init__(self, write_each: Callable[[list[S], bytes], None]) -> None:
        self._write_each = write_each
        self._group_of: dict[S, _Group[S]] = {}
        self._groups: deque[_Group[S]] = deque()

    def add(
        self, shared: bytes, everyone: Iterable[S], own: dict[S, bytes], exclude: Collection[S] = ()
    ) -> int:
        """A burst: each ``own`` session's bytes now; ``shared`` later to every other session
        of ``everyone`` that is not in ``exclude``. Returns how many sessions ``shared`` goes
        to (0 when it is empty), so that a caller can count the burst without a pass of its own.
        """
        group_of = self._group_of
        for session, data in own.items():
            self.write_now(session, data)
        if not shared:
            return 0
        already = len(group_of)  # sessions still owed older bytes: they get these too
        for group in self._groups:
            group.data += shared
        if group_of:
            members = {
                s: None for s in everyone if s not in group_of and s not in own and s not in exclude
            }
        else:  # the usual case: one C-level copy, then a few removals
            members = dict.fromkeys(everyone)
            for session in (*own, *exclude):
                members.pop(session, None)
        if members:
            group = _Group(shared, members)
            self._groups.append(group)
            group_of.update(dict.fromkeys(members, group))
        return already + len(members)

    def write_now(self, session: S, data: bytes) -> None:
        """Write ``data`` to ``session`` now, after whatever it still has pending."""
        group = self._group_of.pop(session, None)
        if group is not None:
            del group.members[session]
            data = group.data + data
        self._write_each([session], data)

    def forget(self, session: S) -> None:
        """Drop what ``session`` has pending (it is gone)."""
        group = self._group_of.pop(session, None)
        if group is not None:
            del group.members[session]

    def flush_some(self, limit: int) -> int:
        """Write pending bytes to at most ``limit`` sessions, each group's in the order its
        sessions were added; return how many sessions remain pending."""
        groups, group_of = self._groups, self._group_of
        while limit > 0 and groups:
            group = groups[0]
            members = group.members
            if len(members) <= limit:
                batch = list(members)
                groups.popleft()
            else:
                batch = list(islice(members, limit))
                for session in batch:
                    del members[session]
            # Settled before the write: whatever the write sets off (a close) finds them so.
            for session in batch:
                del group_of[session]
            limit -= len(batch)
            self._write_each(batch, group.data)
        return len(group_of)

    def pending_bytes(self) -> int:
        """The largest number of bytes any one session is still owed (0 if none)."""
        return max((len(g.data) for g in self._groups), default=0)
