"""One state machine of users and sessions against a live server, with two invariants.

Hypothesis drives three users (registered as ``Ana``, ``bob`` and ``EVE``) through sequences
of steps (:class:`ChatMachine`'s rules), including everything an attacker might try from a
session of their own:

- logins in a new tab under names that differ only in case, with the user's own token or
  password, or with another user's token or password, or a wrong one (these must be refused);
- public and private sends (``to`` or ``/msg``, names in any case, to oneself too), with fresh
  refs, the user's own earlier refs (resends) and refs another user already used;
- ``history`` before any id of the log (others' private messages included), past its end, or
  none, with any limit;
- transports aborted (no close handshake), and sessions that resume: after the last id they
  saw, after any id of the log (often another user's private message), after an id the log
  does not have, or with another epoch; logouts;
- ``read`` marks of the newest message a session got, of any id of the log (others' private
  messages included, which must be refused) or past its end; ``typing`` notices, public or to
  any user in any case;
- sends made while a login is inside the server, at the two points of the seam (after the
  session is registered for live traffic, and after it read the log), through the server's
  seam hook.

Each example runs against its own live server (memory store, no rate limit, a history window
larger than any example's log). Sends are not awaited one by one: they are in flight while later
steps run; a session is dropped or logged out only once its own sends came back, so that every
send is in the log exactly once. At the end every session's sends are answered and each open
session's final ``who`` is answered, so it has everything the server will send it. Then every
frame of every connection is checked against the server's log (read through the store):

Privacy (PROTOCOL.md: a private message reaches its sender's and its recipient's sessions "and
nobody else"; checked after every step too, on what arrived so far):

- no frame at all (errors and their ``detail`` included) contains the secret text of a private
  message between two other users;
- every message (live, replayed, in history, or the original sent back for a resend) is visible
  to the connection's user and equal to the log's entry; it carries a ``ref`` only if the
  connection sent that ref and the entry is the user's own;
- ``welcome.last`` is visible to the user; a ``read`` notice or ``welcome.read`` names an id
  visible to the user that this same user marked read; a ``typing`` notice comes from another
  user, and one with ``to`` names the connection's user.

Delivery (PROTOCOL.md, "Login" and "Messages"):

- the log holds exactly one entry per (user, ref) sent, the first send of that ref;
- a connection receives exactly the entries visible to its user, each once, in log order,
  starting after its ``resume.after`` when the welcome says ``recovered`` (the whole visible
  log otherwise), not counting the originals sent back for resends; a connection that was
  dropped or logged out received a prefix of that; ``recovered`` is true exactly for a resume
  with the session's epoch after an id the log holds;
- a session that resumed after the last id it saw continues right after it: across the chain of
  its connections nothing is missing and nothing doubled;
- ``read`` notices never go backwards or repeat, and ``welcome.unread`` counts exactly the
  entries visible to the user, not sent by them, after ``welcome.read`` up to ``welcome.last``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from chatkit import Frame, Recorder, open_ws, send_json, short
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from websockets.asyncio.client import ClientConnection

from wschat.core.model import Entry
from wschat.server.thread import ServerThread

#: The users, spelled as they first register, and their passwords.
USERS = ("Ana", "bob", "EVE")
PASSWORDS = {"ana": "senha-da-ana", "bob": "senha-do-bob", "eve": "senha-da-eve"}
#: The server's history window: larger than any example's log, so that a login without a
#: recovered resume gets every visible entry (the window itself is tested in test_catchup.py).
HISTORY = 1000
#: An id past the end of any example's log.
PAST_THE_END = 10**6


def key(name: str) -> str:
    return name.lower()


def registered_name(user_key: str) -> str:
    return next(n for n in USERS if key(n) == user_key)


def spelling(user: int, variant: int) -> str:
    """``USERS[user]`` in one of several spellings that differ only in case."""
    name = USERS[user]
    return [name, name.lower(), name.upper(), name.swapcase(), name.capitalize()][variant % 5]


def visible(entry: Entry, user: str) -> bool:
    """PROTOCOL.md: public messages are for everyone, private ones for sender and recipient."""
    return entry.to is None or user in (key(entry.sender), key(entry.to))


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Send:
    """An open session (by index, modulo) sends a message: public (``to`` None) or private to
    ``USERS[to]`` spelled ``variant``, through the ``to`` field or ``/msg``; with a ``ref``
    that is ``fresh``, one this user used before (``own``: a resend), or one another user used
    (``other``)."""

    session: int
    to: int | None
    variant: int
    command: bool
    ref: str


@dataclass(frozen=True)
class Seam:
    """Sends made while a login is inside the server, each taken (echoed) before the login
    goes on: after it registered for live traffic, and after it read the log."""

    registered: tuple[Send, ...] = ()
    log_read: tuple[Send, ...] = ()


@dataclass(frozen=True)
class Resume:
    """How a dropped session logs in again with its token and ``resume``: after ``own`` (the
    last id it saw; without one, no resume at all), ``entry`` (an id of the log by ``index``),
    ``unknown`` (an id the log does not have); with its epoch or (``other_epoch``) another."""

    after: str
    index: int
    other_epoch: bool


index = st.integers(0, 50)
user = st.integers(0, len(USERS) - 1)
variant = st.integers(0, 4)
ref_kind = st.sampled_from(["fresh", "fresh", "own", "other"])
sends = st.builds(Send, index, st.none() | user, variant, st.booleans(), ref_kind)
private_sends = st.builds(Send, index, user, variant, st.booleans(), ref_kind)
seams = st.one_of(
    st.just(Seam()),
    st.builds(Seam, st.lists(sends, max_size=2).map(tuple), st.lists(sends, max_size=2).map(tuple)),
)
resumes = st.builds(Resume, st.sampled_from(["own", "own", "entry", "unknown"]), index,
                    st.booleans())
credentials = st.sampled_from(["own_token", "own_token", "own_password", "other_token",
                               "other_password", "wrong"])


# --------------------------------------------------------------------------- connections


class Conn(Recorder):
    """One connection of ``user`` (a key) and every frame it received, raw and parsed."""

    def __init__(self, user: str, ws: ClientConnection) -> None:
        super().__init__(ws, user)
        self.welcome: Frame | None = None
        self.token: str | None = None
        #: Where its messages start: the ``resume.after`` of a recovered login, else None.
        self.after: str | None = None
        #: The dropped connection it continues (a recovered resume after its last id).
        self.previous: Conn | None = None
        self.pending: set[str] = set()  # refs sent whose answer has not come
        self.originals: set[str] = set()  # refs of new messages sent on this connection
        self.resends: set[str] = set()  # refs sent here that the user had used before

    def received(self, frame: Frame) -> None:
        self.pending.discard(frame.get("ref", ""))

    @property
    def messages(self) -> list[Frame]:
        """Live and replayed messages (and originals sent back), in arrival order."""
        return [f for f in self.frames if f.get("type") == "message"]

    @property
    def shown(self) -> list[Frame]:
        """Every message object received: live, replayed, and inside history pages."""
        found = []
        for frame in self.frames:
            if frame.get("type") == "message":
                found.append(frame)
            elif frame.get("type") == "history":
                found.extend(frame["messages"])
        return found

    @property
    def delivered(self) -> list[Frame]:
        """:attr:`messages` but the originals sent back for resends (PROTOCOL.md, ``ref``:
        "the only repeat is the original sent back to the resender")."""
        out: list[Frame] = []
        echoed: set[str] = set()
        for frame in self.messages:
            ref = frame.get("ref")
            if ref is not None and (ref not in self.originals or ref in echoed):
                assert ref in self.resends, f"{self.user} got {ref} back twice: {frame}"
                continue
            if ref is not None:
                echoed.add(ref)
            out.append(frame)
        return out

    @property
    def last_seen(self) -> str | None:
        """The id a client resumes after: the last message it got, else where it started."""
        delivered = self.delivered
        return delivered[-1]["id"] if delivered else self.after


# --------------------------------------------------------------------------- the machine


class ChatMachine(RuleBasedStateMachine):
    """Plays the steps on one live server (its own event loop drives the clients) and checks
    the privacy invariant after every step and both invariants at the end."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.broken = False  # a step raised: the end checks would only hide its error
        self.open: list[Conn] = []
        self.dropped: list[Conn] = []
        self.every: list[Conn] = []
        self.tokens: dict[str, list[str]] = {k: [] for k in PASSWORDS}  # valid tokens
        self.used: dict[str, set[str]] = {k: set() for k in PASSWORDS}  # refs each user sent
        self.confirmed: dict[str, list[str]] = {k: [] for k in PASSWORDS}  # ...and got back
        self.marked: dict[str, set[str]] = {k: set() for k in PASSWORDS}  # ids each user marked
        self.secrets: list[tuple[str, str, str]] = []  # (sender key, recipient key, text)
        self.sent: dict[tuple[str, str], tuple[str | None, str]] = {}  # (user, ref): first (to, text)
        self.ids: list[str] = []  # ids seen by anyone, in the order first seen
        self.armed: dict[str, tuple[Send, ...]] = {}
        self.numbers = itertools.count(1)
        self.server = ServerThread(
            rate_limit=0, history=HISTORY, login_failures_per_name=10**6,
            login_failures_per_address=10**6, seam_hook=self.seam_hook,
        ).start()

    def run(self, step: Coroutine[Any, Any, object]) -> None:
        self.broken = True
        self.loop.run_until_complete(step)
        self.broken = False

    # -- rules

    @initialize()
    def everyone_registers_and_sends_secrets(self) -> None:
        """Everyone registered with the spelling of USERS, and a private message between every
        two users (and a public one from each): every example has secrets to leak."""

        async def step() -> None:
            for user_key in PASSWORDS:
                await self.login(user_key, registered_name(user_key),
                                 {"password": PASSWORDS[user_key]}, Seam())
            for sender in range(len(self.open)):
                for to in [None, *range(len(USERS))]:
                    if to != sender:
                        await self.send(Send(sender, to, sender, to == 2, "fresh"))

        self.run(step())

    @rule(user=user, variant=variant, credential=credentials, other=user, seam=seams)
    def open_tab(self, user: int, variant: int, credential: str, other: int, seam: Seam) -> None:
        self.run(self.do_open(user, variant, credential, other, seam))

    @precondition(lambda self: self.open)
    @rule(send=sends)
    def send_message(self, send: Send) -> None:
        self.run(self.send(send))

    @precondition(lambda self: self.open)
    @rule(send=private_sends)
    def send_private(self, send: Send) -> None:
        self.run(self.send(send))

    @precondition(lambda self: self.open)
    @rule(session=index, before=st.none() | st.integers(-1, 50), limit=st.integers(1, 200))
    def ask_history(self, session: int, before: int | None, limit: int) -> None:
        conn = self.open[session % len(self.open)]
        frame: Frame = {"type": "history", "limit": limit}
        if before is not None:
            frame["before"] = self.pick_id(before)
        self.run(send_json(conn.ws, frame))
        event("history" + (" before an id" if before is not None else ""))

    @precondition(lambda self: self.open)
    @rule(session=index)
    def drop(self, session: int) -> None:
        self.run(self.do_drop(self.open.pop(session % len(self.open))))

    @precondition(lambda self: self.dropped)
    @rule(dropped=index, resume=resumes, seam=seams)
    def resume(self, dropped: int, resume: Resume, seam: Seam) -> None:
        self.run(self.do_resume(self.dropped.pop(dropped % len(self.dropped)), resume, seam))

    @precondition(lambda self: self.open)
    @rule(session=index, resume=resumes, seam=seams)
    def drop_and_resume_at_once(self, session: int, resume: Resume, seam: Seam) -> None:
        async def step() -> None:
            conn = self.open.pop(session % len(self.open))
            await self.do_drop(conn)
            self.dropped.remove(conn)
            await self.do_resume(conn, resume, seam)

        self.run(step())

    @precondition(lambda self: self.open)
    @rule(session=index)
    def logout(self, session: int) -> None:
        async def step() -> None:
            conn = self.open.pop(session % len(self.open))
            await conn.wait(lambda: not conn.pending, f"answers to {sorted(conn.pending)}")
            await send_json(conn.ws, {"type": "logout"})
            await conn.wait(lambda: conn.closed, "the close after logout")
            if conn.token in self.tokens[conn.user]:
                self.tokens[conn.user].remove(conn.token)

        self.run(step())

    @precondition(lambda self: self.open)
    @rule(session=index, which=st.integers(-2, 50))
    def mark_read(self, session: int, which: int) -> None:
        """``which``: -2 the newest message the session got, -1 past the end of the log,
        else an id of the log by index (often another user's private message)."""
        conn = self.open[session % len(self.open)]
        if which == -2:
            if not conn.delivered:
                return
            entry_id = conn.delivered[-1]["id"]
        else:
            entry_id = self.pick_id(which)
        self.marked[conn.user].add(entry_id)
        self.run(send_json(conn.ws, {"type": "read", "id": entry_id}))
        event("read")

    @precondition(lambda self: self.open)
    @rule(session=index, to=st.none() | user, variant=variant)
    def typing(self, session: int, to: int | None, variant: int) -> None:
        conn = self.open[session % len(self.open)]
        notice: Frame = {"type": "typing"}
        if to is not None:
            notice["to"] = spelling(to, variant)
        self.run(send_json(conn.ws, notice))
        event("typing" + (" to a user" if to is not None else ""))

    @invariant()
    def nobody_saw_what_is_not_theirs_so_far(self) -> None:
        self.broken = True
        for conn in self.every:
            self.check_privacy(conn, None)
        self.broken = False

    def teardown(self) -> None:
        try:
            if not self.broken:
                self.run(self.finish())
        finally:
            self.loop.run_until_complete(self.close())
            self.loop.close()
            self.server.stop()

    # -- playing

    async def login(self, user: str, name: str, credential: Frame, seam: Seam) -> Conn | None:
        """Log in as ``name`` with ``credential``; None if refused (checked: one
        ``auth_failed`` error, then close 4001)."""
        ws = await open_ws(self.server.url)
        conn = Conn(user, ws)
        conn.start()
        self.every.append(conn)
        self.armed = {"registered": seam.registered, "log_read": seam.log_read}
        try:
            await send_json(ws, {"type": "login", "user": name, **credential})
            await conn.wait(lambda: bool(conn.frames) or conn.closed, "the answer to the login")
        finally:
            unused, self.armed = self.armed, {}
        first = conn.frames[0]
        if first["type"] != "welcome":
            await conn.wait(lambda: conn.closed, "the close")
            assert (first["type"], first["code"], ws.close_code) == ("error", "auth_failed", 4001), first
            assert len(conn.frames) == 1, conn.frames
            return None
        assert not any(unused.values()), f"the server never reached the seam points {unused}"
        assert key(first["user"]) == user, f"{name} logged in as {first['user']}"
        conn.welcome, conn.token = first, first["token"]
        if first["token"] not in self.tokens[user]:
            self.tokens[user].append(first["token"])
        # The backlog ends before the answer to this who: from here on the session is live.
        fence = f"w{next(self.numbers)}"
        await send_json(ws, {"type": "who", "ref": fence})
        await conn.wait(lambda: any(f.get("ref") == fence for f in conn.frames), "the backlog")
        self.open.append(conn)
        return conn

    async def do_open(self, user: int, variant: int, credential: str, other: int, seam: Seam) -> None:
        me, them = key(USERS[user]), key(USERS[other])
        if credential.startswith("other") and them == me:
            them = key(USERS[(user + 1) % len(USERS)])
        if credential == "own_token" and not self.tokens[me]:
            credential = "own_password"
        if credential == "other_token" and not self.tokens[them]:
            credential = "other_password"
        frame: Frame = {
            "own_token": lambda: {"token": self.tokens[me][-1]},
            "own_password": lambda: {"password": PASSWORDS[me]},
            "other_token": lambda: {"token": self.tokens[them][-1]},
            "other_password": lambda: {"password": PASSWORDS[them]},
            "wrong": lambda: {"password": PASSWORDS[me] + "?"},
        }[credential]()
        conn = await self.login(me, spelling(user, variant), frame, seam)
        assert (conn is not None) is credential.startswith("own"), (
            f"{credential} login as {spelling(user, variant)}: {conn is not None}")
        if conn is not None:
            assert conn.welcome is not None and conn.welcome["recovered"] is False
        event(f"login with {credential}")

    async def send(self, action: Send) -> tuple[Conn, str] | None:
        """Send from an open session, if any; return that session and the ref."""
        if not self.open:
            return None
        conn = self.open[action.session % len(self.open)]
        me = conn.user
        n = next(self.numbers)
        ref = f"{me}-{n}"
        if action.ref == "own" and self.confirmed[me]:
            ref = self.confirmed[me][n % len(self.confirmed[me])]  # answered: surely stored
            event("a resend")
        elif action.ref == "other":
            theirs = sorted(r for k, refs in self.used.items() if k != me for r in refs
                            if r not in self.used[me])
            if theirs:
                ref = theirs[n % len(theirs)]
                event("a send with another user's ref")
        to = None if action.to is None else spelling(action.to, action.variant)
        if to is None:
            text = f"publica-{n}"
            frame: Frame = {"type": "send", "text": text, "ref": ref}
        else:
            text = f"segredo-{n}-de-{me}-para-{key(to)}"
            self.secrets.append((me, key(to), text))
            if action.command:
                frame = {"type": "send", "text": f"/msg {to} {text}", "ref": ref}
            else:
                frame = {"type": "send", "text": text, "to": to, "ref": ref}
        if ref in self.used[me]:
            conn.resends.add(ref)
        else:
            conn.originals.add(ref)
            self.used[me].add(ref)
            self.sent[(me, ref)] = (None if to is None else key(to), text)
        conn.pending.add(ref)
        await send_json(conn.ws, frame)
        return conn, ref

    async def do_drop(self, conn: Conn) -> None:
        await conn.wait(lambda: not conn.pending, f"answers to {sorted(conn.pending)}")
        assert conn.ws.transport is not None
        conn.ws.transport.abort()
        await conn.ended()
        self.dropped.append(conn)

    async def do_resume(self, old: Conn, how: Resume, seam: Seam) -> None:
        assert old.welcome is not None
        after: str | None
        if how.after == "own":
            after = old.last_seen
        elif how.after == "entry":
            after = self.pick_id(how.index)
        else:
            after = str(PAST_THE_END + how.index)
        token = old.token if old.token in self.tokens[old.user] else None
        credential: Frame = {"token": token} if token else {"password": PASSWORDS[old.user]}
        if after is not None:
            epoch = old.welcome["epoch"] + ("-outra" if how.other_epoch else "")
            credential["resume"] = {"epoch": epoch, "after": after}
        conn = await self.login(old.user, registered_name(old.user), credential, seam)
        assert conn is not None and conn.welcome is not None
        in_log = after is not None and int(after) < PAST_THE_END
        recovered = in_log and not how.other_epoch
        assert conn.welcome["recovered"] is recovered, (how, after, conn.welcome)
        if recovered:
            conn.after = after
            if how.after == "own":
                conn.previous = old
        event(f"resume after {how.after}" + (" of another epoch" if how.other_epoch else "")
              + ("" if after is not None else " without an id"))

    def pick_id(self, which: int) -> str:
        """An id of the log seen by anyone, by index (modulo); past the end for -1."""
        for conn in self.open:
            for message in conn.shown:
                if message["id"] not in self.ids:
                    self.ids.append(message["id"])
        if which < 0 or not self.ids:
            return str(PAST_THE_END)
        return self.ids[which % len(self.ids)]

    async def seam_hook(self, point: str, session: object) -> None:
        """Called by the server (on its own loop) inside each login: make the armed sends
        on the machine's loop and wait until the server took them."""
        armed = self.armed.pop(point, ())
        if armed:
            future = asyncio.run_coroutine_threadsafe(self.inject(armed), self.loop)
            await asyncio.wrap_future(future)

    async def inject(self, armed: tuple[Send, ...]) -> None:
        for action in armed:
            taken = await self.send(action)
            if taken is not None:
                conn, ref = taken
                await conn.wait(lambda c=conn, r=ref: r not in c.pending, f"the answer to {ref}")  # type: ignore[misc]
        if self.open:
            event("sends at a seam")

    async def finish(self) -> None:
        """Every send is answered and every open connection got all the server will send (a
        ``who`` is answered after everything written to that connection before, and no send
        remains to be published once every answer came back); then check the log."""
        for conn in self.open:
            await conn.wait(lambda c=conn: not c.pending, "answers")  # type: ignore[misc]
        for n, conn in enumerate(self.open):
            fence = f"fence-{n}"
            await send_json(conn.ws, {"type": "who", "ref": fence})
            await conn.wait(lambda c=conn, f=fence: any(x.get("ref") == f for x in c.frames),  # type: ignore[misc]
                            "the answer to the final who")
        log = await asyncio.to_thread(self.log)
        self.check(log)
        event(f"{sum(e.to is not None for e in log) // 5 * 5}+ private messages in the log")

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
        store = self.server.chat.store

        async def read() -> list[Entry]:
            head = await store.head()
            entries = [await store.get(str(n)) for n in range(1, int(head) + 1)] if head else []
            return [e for e in entries if e is not None]

        result: list[Entry] = self.server.call(read)
        return result

    def check_privacy(self, conn: Conn, by_id: dict[str, Entry] | None) -> None:
        """What ``conn`` got is its user's to see (against the log when ``by_id`` is given)."""
        me = conn.user
        for sender, recipient, text in self.secrets:
            if me not in (sender, recipient):
                leaks = [raw for raw in conn.raw if text in raw]
                assert not leaks, f"{me} saw {text!r}: {short(leaks)}"
        for notice in (f for f in conn.frames if f.get("type") == "typing"):
            assert key(notice["user"]) != me, f"{me} got their own typing: {notice}"
            if "to" in notice:
                assert key(notice["to"]) == me, f"{me} got a private typing of others: {notice}"
        positions = [f["id"] for f in conn.frames if f.get("type") == "read"]
        if conn.welcome is not None and conn.welcome["read"] is not None:
            positions.append(conn.welcome["read"])
        for position in positions:
            assert position in self.marked[me], f"{me} got a read position of others: {position}"
        for message in conn.shown:
            if "ref" in message:
                assert message["ref"] in conn.originals | conn.resends, (
                    f"{me} got a ref it did not send: {message}")
        if by_id is None:
            return
        for position in positions:
            assert by_id[position].visible_to(me), f"{me}'s read position {position}"
        if conn.welcome is not None and conn.welcome["last"] is not None:
            last = by_id[conn.welcome["last"]]
            assert last.visible_to(me), f"{me}'s welcome.last is {last}"
        for message in conn.shown:
            entry = by_id.get(message["id"])
            assert entry is not None, f"{me} got an id not in the log: {message}"
            assert entry.visible_to(me), f"{me} got a private message of others: {message}"
            assert (message["from"], message["to"], message["text"]) == (
                entry.sender, entry.to, entry.text), message
            if "ref" in message:
                assert entry.sender_key == me and message["ref"] == entry.ref, (
                    f"{me} got a ref on {entry}: {message}")

    def check(self, log: list[Entry]) -> None:
        assert len(log) <= HISTORY, "the model assumes a login gets the whole visible log"
        stored = {(e.sender_key, e.ref): (None if e.to is None else key(e.to), e.text) for e in log}
        assert len(stored) == len(log) and stored == self.sent, "the log is not the sends made"
        by_id = {e.id: e for e in log}
        position = {e.id: n for n, e in enumerate(log)}
        for conn in self.every:
            self.check_privacy(conn, by_id)
            if conn.welcome is not None:
                self.check_delivery(conn, log, position)
        # The chain of one session across resumes: nothing missing, nothing twice.
        for conn in self.every:
            if conn.previous is None or conn not in self.open:
                continue
            chain = [conn]
            while (previous := chain[-1].previous) is not None:
                chain.append(previous)
            chain.reverse()
            seen = [f["id"] for c in chain for f in c.delivered]
            start = -1 if chain[0].after is None else position[chain[0].after]
            expected = [e.id for e in log if visible(e, conn.user) and position[e.id] > start]
            assert seen == expected, f"{conn.user} across {len(chain)} connections: {seen} != {expected}"

    def check_delivery(self, conn: Conn, log: list[Entry], position: dict[str, int]) -> None:
        me, welcome = conn.user, conn.welcome
        assert welcome is not None
        refused = [f for f in conn.frames if f.get("type") == "error" and f.get("ref")]
        assert not refused, f"{me}: a send was refused: {short(refused)}"
        start = -1 if conn.after is None else position[conn.after]
        expected = [e.id for e in log if visible(e, me) and position[e.id] > start]
        ids = [f["id"] for f in conn.delivered]
        last = welcome["last"]
        if last is not None and position[last] > start:  # (a resume may start after ``last``)
            assert last in expected, f"{me}: welcome.last {last} is not a visible id"
        if conn in self.open:
            assert ids == expected, f"{me} (after {conn.after}): got {ids}, expected {expected}"
        else:
            assert ids == expected[: len(ids)], (
                f"{me} (closed, after {conn.after}): got {ids}, expected a prefix of {expected}")
        moved = [f["id"] for f in conn.frames if f.get("type") == "read"]
        assert [position[i] for i in moved] == sorted({position[i] for i in moved}), (
            f"{me}'s read notices went backwards or repeated: {moved}")
        read = welcome["read"]
        low = -1 if read is None else position[read]
        high = -1 if last is None else position[last]
        unread = [e for e in log if visible(e, me) and e.sender_key != me
                  and low < position[e.id] <= high]
        assert welcome["unread"] == len(unread), (welcome, [e.id for e in unread])


TestChatMachine = ChatMachine.TestCase
TestChatMachine.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)
