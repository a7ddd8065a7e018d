"""Property test of the server's delivery guarantee (PROTOCOL.md, "Login" and "Messages").

Hypothesis draws random sequences of actions: a user logs in in a new tab, a session sends a
public message, a session sends a private one (to another user or to itself), a session's
transport is dropped abruptly, a dropped session resumes with its epoch and last id, or it
logs in afresh without resume. Each login may also carry sends that other sessions make
while the login is inside the server, at the two points of the seam (after the session is
registered for live traffic, and after the log was read), through the server's seam hook.
Each example runs against its own live server (ServerThread, memory store, no rate limit)
with raw ``websockets`` clients that keep every frame as it came: nothing is filtered or
de-duplicated here.

Once the actions are done, the model is computed from the server's log (read through the
store): a connection must receive exactly the entries visible to its user, each once, in log
order, starting after its ``resume.after`` (or from the beginning of the log, since every
example's log fits the history window it runs with). A connection that was dropped must have
received a prefix of that; its resumption must continue right after what it had, so that the
chain of connections of one session misses nothing and doubles nothing. A message carries a
``ref`` only on the connection that sent that ref, never in a history or replay.

Sessions also mark read the newest message they got and send typing notices (public or to a
user). Those are not messages: they never change what a connection receives as messages. Every
``read`` notice a connection gets names a position its own user marked, in increasing order;
``welcome.read`` is one of them and ``welcome.unread`` counts exactly the entries visible to
the user, not sent by them, after ``welcome.read`` up to ``welcome.last``; every ``typing``
notice comes from another user and, with ``to``, names the connection's user.

Plain sends are not awaited one by one: they are in flight while later actions run. A session
is dropped only after the echoes of its own sends came back, so every send is in the log
exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from dataclasses import dataclass

from chatkit import Frame, Recorder, login, send_json, short
from hypothesis import event, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection

from wschat.core.model import Entry
from wschat.server.thread import ServerThread

PW = "s3nha"
USERS = ("ana", "bob", "cid")
#: The server's history window: larger than any example's log, so that a fresh login gets
#: every visible entry (the window itself is tested in test_catchup.py).
HISTORY = 1000
MAX_ACTIONS = 30


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Public:
    """An open session (picked by index, modulo) sends a public message."""

    session: int


@dataclass(frozen=True)
class Private:
    """An open session sends a private message to a registered user (itself included)."""

    session: int
    to: int


Send = Public | Private


@dataclass(frozen=True)
class Seam:
    """Sends made while a login is inside the server, each taken (echoed) before the login
    goes on: after it registered for live traffic, and after it read the log."""

    registered: tuple[Send, ...] = ()
    log_read: tuple[Send, ...] = ()


@dataclass(frozen=True)
class Login:
    """``USERS[user]`` opens a new tab (the first one registers the name)."""

    user: int
    seam: Seam = Seam()


@dataclass(frozen=True)
class Drop:
    """An open session's transport is aborted: no close handshake."""

    session: int


@dataclass(frozen=True)
class Resume:
    """A dropped session logs in again with ``resume`` = its epoch and the last id it saw."""

    dropped: int
    seam: Seam = Seam()


@dataclass(frozen=True)
class Fresh:
    """A dropped session logs in again without ``resume``."""

    dropped: int
    seam: Seam = Seam()


@dataclass(frozen=True)
class MarkRead:
    """An open session marks read the newest message it got."""

    session: int


@dataclass(frozen=True)
class TypingNotice:
    """An open session says it is typing: to everyone (``to`` None) or to a registered user."""

    session: int
    to: int | None


Action = Login | Public | Private | Drop | Resume | Fresh | MarkRead | TypingNotice

index = st.integers(0, 7)
user_index = st.integers(0, len(USERS) - 1)
sends = st.one_of(st.builds(Public, index), st.builds(Private, index, user_index))
seams = st.builds(
    Seam,
    st.lists(sends, max_size=2).map(tuple),
    st.lists(sends, max_size=2).map(tuple),
)

#: Sends are drawn most often, so that a session that resumes has usually missed something.
KINDS = ("public", "private", "public", "private", "drop", "resume", "login", "fresh",
         "read", "typing")


def make(kind: str, a: int, b: int, seam: Seam) -> Action:
    """One action from a kind, two numbers (indexes are taken modulo what exists) and a seam."""
    match kind:
        case "public":
            return Public(a)
        case "private":
            return Private(a, b)
        case "drop":
            return Drop(a)
        case "resume":
            return Resume(a, seam)
        case "login":
            return Login(b, seam)
        case "read":
            return MarkRead(a)
        case "typing":
            return TypingNotice(a, None if a % 2 else b)
    return Fresh(a, seam)


# A script opens a few sessions, then mixes every kind of action.
actions = st.builds(
    lambda opening, rest: opening + rest,
    st.lists(st.builds(Login, user_index, seams), min_size=1, max_size=4),
    st.lists(
        st.builds(make, st.sampled_from(KINDS), index, user_index, seams),
        min_size=12,
        max_size=MAX_ACTIONS - 4,
    ),
)


# --------------------------------------------------------------------------- connections


class Conn(Recorder):
    """One connection and every frame it received after ``welcome``, in arrival order."""

    def __init__(
        self, user: str, ws: ClientConnection, welcome: Frame, after: str | None,
        previous: Conn | None,
    ) -> None:
        super().__init__(ws, user)
        self.welcome = welcome
        self.after = after  # the resume.after it logged in with; None without resume
        self.previous = previous  # the dropped connection it resumed
        self.pending: set[str] = set()  # refs sent whose echo has not come
        self.sent_refs: set[str] = set()  # every ref sent on this connection

    def received(self, frame: Frame) -> None:
        self.pending.discard(frame.get("ref", ""))

    @property
    def messages(self) -> list[Frame]:
        return [f for f in self.frames if f.get("type") == "message"]

    @property
    def last_seen(self) -> str | None:
        """The id a client resumes after: the last message it got, else where it started."""
        messages = self.messages
        return messages[-1]["id"] if messages else self.after


class Scenario:
    """Plays a list of actions against one server and checks the result against its log."""

    def __init__(self) -> None:
        self.server: ServerThread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.registered: set[str] = set()
        self.tokens: dict[str, str] = {}
        self.open: list[Conn] = []
        self.dropped: list[Conn] = []
        self.every: list[Conn] = []
        self.sent: list[tuple[str, str | None, str, str]] = []  # sender, to, text, ref
        self.armed: dict[str, tuple[Send, ...]] = {}
        self.marked: dict[str, set[str]] = {u: set() for u in USERS}  # ids marked read
        self._numbers = itertools.count(1)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    # -- playing

    async def play(self, script: list[Action]) -> None:
        self.loop = asyncio.get_running_loop()
        for action in script:
            match action:
                case Login(user=u, seam=seam):
                    await self.connect(USERS[u], seam, previous=None, kind="login")
                case Public() | Private():
                    await self.send(action)
                case Drop(session=i) if self.open:
                    await self.drop(self.open.pop(i % len(self.open)))
                case Resume(dropped=i, seam=seam) if self.dropped:
                    old = self.dropped.pop(i % len(self.dropped))
                    await self.connect(old.user, seam, previous=old, kind="resume")
                case Fresh(dropped=i, seam=seam) if self.dropped:
                    old = self.dropped.pop(i % len(self.dropped))
                    await self.connect(old.user, seam, previous=None, kind="fresh login")
                case MarkRead(session=i) if self.open:
                    conn = self.open[i % len(self.open)]
                    if conn.messages:
                        entry_id = conn.messages[-1]["id"]
                        self.marked[conn.user].add(entry_id)
                        await send_json(conn.ws, {"type": "read", "id": entry_id})
                        event("read")
                case TypingNotice(session=i, to=to) if self.open:
                    conn = self.open[i % len(self.open)]
                    notice: Frame = {"type": "typing"}
                    if to is not None:
                        notice["to"] = sorted(self.registered)[to % len(self.registered)]
                    await send_json(conn.ws, notice)

    async def connect(self, user: str, seam: Seam, *, previous: Conn | None, kind: str) -> None:
        """Log in (with the token once there is one); resume after ``previous``'s last id."""
        token = self.tokens.get(user)
        # A dropped connection that saw no id at all has nothing to resume from.
        after = previous.last_seen if previous is not None else None
        resume = None
        if previous is not None and after is not None:
            resume = {"epoch": previous.welcome["epoch"], "after": after}
        self.registered.add(user)  # the server registers the name before the seam points
        self.armed = {"registered": seam.registered, "log_read": seam.log_read}
        try:
            ws, welcome = await login(
                self.url, user, None if token else PW, token=token, resume=resume
            )
        finally:
            unused, self.armed = self.armed, {}
        assert not unused, f"the server never reached the seam points {sorted(unused)}"
        assert welcome["recovered"] is (resume is not None), welcome
        event(kind if resume is not None or kind != "resume" else "resume without an id")
        self.tokens[user] = welcome["token"]
        conn = Conn(user, ws, welcome, after if resume else None, previous if resume else None)
        conn.start()
        self.open.append(conn)
        self.every.append(conn)

    async def seam_hook(self, point: str, session: object) -> None:
        """Called by the server (on its own loop) inside each login: make the armed sends
        on the test's loop and wait until the server took them."""
        sends = self.armed.pop(point, ())
        if not sends:
            return
        assert self.loop is not None
        future = asyncio.run_coroutine_threadsafe(self.inject(sends), self.loop)
        await asyncio.wrap_future(future)

    async def inject(self, sends: tuple[Send, ...]) -> None:
        for action in sends:
            taken = await self.send(action)
            if taken is not None:
                conn, ref = taken
                await conn.wait(lambda c=conn, r=ref: r not in c.pending, f"the echo of {ref}")  # type: ignore[misc]
        if sends and self.open:
            event("sends at a seam")

    async def send(self, action: Send) -> tuple[Conn, str] | None:
        """Make a send from an open session, if any; return that session and the ref."""
        if not self.open:
            return None
        conn = self.open[action.session % len(self.open)]
        to = None
        if isinstance(action, Private):
            names = sorted(self.registered)
            to = names[action.to % len(names)]
        number = next(self._numbers)
        text, ref = f"m{number}", f"r{number}"
        frame: Frame = {"type": "send", "text": text, "ref": ref}
        if to is not None:
            frame["to"] = to
        conn.pending.add(ref)
        conn.sent_refs.add(ref)
        self.sent.append((conn.user, to, text, ref))
        await send_json(conn.ws, frame)
        return conn, ref

    async def drop(self, conn: Conn) -> None:
        await conn.wait(lambda: not conn.pending, f"echoes of {sorted(conn.pending)}")
        assert conn.ws.transport is not None
        conn.ws.transport.abort()
        assert conn.reader is not None
        await conn.reader
        self.dropped.append(conn)

    async def settle(self) -> None:
        """Every send is answered, and every open connection got all the server will send:
        a ``who`` is answered in order after everything written to that connection before,
        and no send remains to be published once every echo came back."""
        for conn in self.open:
            await conn.wait(lambda c=conn: not c.pending, "echoes")  # type: ignore[misc]
        for n, conn in enumerate(self.open):
            fence = f"fence-{n}"
            await send_json(conn.ws, {"type": "who", "ref": fence})
            await conn.wait(
                lambda c=conn, f=fence: any(x.get("ref") == f for x in c.frames),  # type: ignore[misc]
                "the answer to the final who",
            )

    async def close(self) -> None:
        for conn in self.every:
            if conn.ws.transport is not None:
                conn.ws.transport.abort()
            if conn.reader is not None:
                conn.reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await conn.reader

    # -- checking

    def log(self) -> list[Entry]:
        """Every entry of the server's log, read through its store, in log order."""
        assert self.server is not None
        store = self.server.chat.store

        async def read() -> list[Entry]:
            head = await store.head()
            entries = [await store.get(str(n)) for n in range(1, int(head) + 1)] if head else []
            assert all(e is not None for e in entries)
            return entries  # type: ignore[return-value]

        result: list[Entry] = self.server.call(read)
        return result

    def check(self, log: list[Entry]) -> None:
        assert len(log) <= HISTORY, "the model assumes a fresh login gets the whole visible log"
        stored = Counter((e.sender, e.to, e.text, e.ref) for e in log)
        assert stored == Counter(self.sent), "the log is not exactly the sends made"
        by_id = {e.id: e for e in log}
        position = {e.id: n for n, e in enumerate(log)}

        for conn in self.every:
            got = conn.messages
            errors = [f for f in conn.frames if f.get("type") == "error"]
            assert not errors, f"{conn.user}: {short(errors)}"
            for frame in got:
                entry = by_id.get(frame["id"])
                assert entry is not None, f"{conn.user} got an id not in the log: {frame}"
                assert (frame["from"], frame["to"], frame["text"]) == (
                    entry.sender, entry.to, entry.text
                ), frame
                assert visible(entry, conn.user), f"{conn.user} got another user's private {frame}"
                # A ref comes back only to the session that sent it (never in a backlog, never
                # to another tab of the same user), and only on its own message.
                if "ref" in frame:
                    assert frame["ref"] in conn.sent_refs and frame["ref"] == entry.ref, (
                        f"{conn.user} got a ref it did not send: {frame}"
                    )
            self.check_read_and_typing(conn, log, position)
            start = -1 if conn.after is None else position[conn.after]
            expected = [e.id for e in log if visible(e, conn.user) and position[e.id] > start]
            ids = [f["id"] for f in got]
            last = conn.welcome["last"]
            if last is not None and last != conn.after:
                assert last in expected, f"{conn.user}: welcome.last {last} is not a visible id"
            if conn in self.open:
                assert ids == expected, f"{conn.user} (after {conn.after}): got {ids}, expected {expected}"
            else:
                assert ids == expected[: len(ids)], (
                    f"{conn.user} (dropped, after {conn.after}): got {ids}, expected a prefix of {expected}"
                )

        # The chain of one session across drops and resumes: nothing missing, nothing twice.
        for conn in self.every:
            if conn.previous is None or conn not in self.open:
                continue
            chain = [conn]
            while chain[-1].previous is not None:
                chain.append(chain[-1].previous)
            chain.reverse()
            seen = [f["id"] for c in chain for f in c.messages]
            first = chain[0]
            start = -1 if first.after is None else position[first.after]
            expected = [e.id for e in log if visible(e, conn.user) and position[e.id] > start]
            assert seen == expected, f"{conn.user} across {len(chain)} connections: {seen} != {expected}"


    def check_read_and_typing(self, conn: Conn, log: list[Entry], position: dict[str, int]) -> None:
        me = conn.user
        moved = [f["id"] for f in conn.frames if f.get("type") == "read"]
        assert all(i in self.marked[me] for i in moved), f"{me} got others' read positions {moved}"
        assert [position[i] for i in moved] == sorted({position[i] for i in moved}), (
            f"{me}'s read notices went backwards or repeated: {moved}")
        read, last = conn.welcome["read"], conn.welcome["last"]
        assert read is None or read in self.marked[me], f"{me}'s welcome.read {read}"
        low = -1 if read is None else position[read]
        high = -1 if last is None else position[last]
        unread = [e for e in log if visible(e, me) and e.sender.lower() != me
                  and low < position[e.id] <= high]
        assert conn.welcome["unread"] == len(unread), (conn.welcome, [e.id for e in unread])
        for notice in (f for f in conn.frames if f.get("type") == "typing"):
            assert notice["user"].lower() != me, f"{me} got their own typing {notice}"
            if "to" in notice:
                assert notice["to"].lower() == me, f"{me} got another's private typing {notice}"


def visible(entry: Entry, user: str) -> bool:
    """PROTOCOL.md: public messages are for everyone, private ones for sender and recipient."""
    return entry.to is None or user in (entry.sender.lower(), entry.to.lower())


async def run(scenario: Scenario, script: list[Action]) -> None:
    try:
        await scenario.play(script)
        await scenario.settle()
        log = await asyncio.to_thread(scenario.log)
        scenario.check(log)
        event(f"log of {len(log) // 5 * 5}+ entries")
        replayed = sum(len(c.messages) for c in scenario.every if c.after is not None)
        event("a resume replayed messages" if replayed else "no message replayed")
    finally:
        await scenario.close()


@settings(max_examples=50, deadline=None)
@given(script=actions)
def test_every_session_gets_exactly_its_visible_entries_once_in_order(script: list[Action]) -> None:
    scenario = Scenario()
    with ServerThread(rate_limit=0, history=HISTORY, seam_hook=scenario.seam_hook) as server:
        scenario.server = server
        asyncio.run(run(scenario, script))
