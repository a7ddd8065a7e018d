"""Property test: no sequence of actions lets a user receive another user's private message
(issue 7, "Security"; PROTOCOL.md: a private message reaches the sessions of its sender and of
its recipient, "and nobody else").

Three users (registered as ``Ana``, ``bob`` and ``EVE``) open sessions and act, in sequences
Hypothesis draws, including everything an attacker might try from a session of their own:

- logins under names that differ only in case, with their own token or password, and with
  another user's token or password, or a wrong one (these must be refused);
- public and private sends (``to`` or ``/msg``, names in any case), with fresh refs, their own
  earlier refs (resends) and refs another user already used;
- ``history`` with ``before`` set to any id of the log (others' private messages included),
  an id past the end, or none, and any limit;
- dropped connections resumed with ``resume`` pointing at another user's private message, at
  an id the log does not have, or at another epoch; and logouts;
- ``read`` positions at any id of the log (others' private messages included, which must be
  refused) or past its end, and ``typing`` notices, public or to any user in any case.

Each example runs against its own live server (memory store, no rate limit). Sends are not
awaited one by one, so they are in flight while later actions run. When the actions are done,
every open session sends itself a private "fence" message: the server's one writer publishes
in order, so once each session has its fence back, it has everything the server will ever send
it. Then, for every connection, every frame it received is checked against the server's log:

- every message (live, replayed, in history, or the answer to a resend) is visible to the
  connection's user, and equal to the log's entry;
- a message carries a ``ref`` only if the user sent it;
- ``welcome.last`` is an id visible to the user;
- no frame at all (errors and their ``detail`` included) contains the secret text of a private
  message between two other users;
- a ``read`` notice or ``welcome.read`` names an id visible to the connection's user that this
  same user marked read (a read position never reaches another user);
- a ``typing`` notice comes from another user, and one with ``to`` names the connection's user
  (a private typing never reaches a third user).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

from chatkit import Frame, Recorder, open_ws, send_json, short
from hypothesis import event, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection

from wschat.core.model import Entry
from wschat.server.thread import ServerThread

#: The users, spelled as they first register, and their passwords.
USERS = ("Ana", "bob", "EVE")
PASSWORDS = {"ana": "senha-da-ana", "bob": "senha-do-bob", "eve": "senha-da-eve"}


def key(name: str) -> str:
    return name.lower()


def spelling(user: int, variant: int) -> str:
    """``USERS[user]`` in one of several spellings that differ only in case."""
    name = USERS[user]
    return [name, name.lower(), name.upper(), name.swapcase(), name.capitalize()][variant % 5]


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Open:
    """``USERS[user]`` (spelled ``variant``) logs in with a credential:
    ``own_token``, ``own_password``, ``other_token``, ``other_password`` or ``wrong``."""

    user: int
    variant: int
    credential: str
    other: int  # whose credential, for the ``other_*`` kinds


@dataclass(frozen=True)
class Send:
    """An open session sends a message: public (``to`` None) or private to ``USERS[to]``
    spelled ``variant``; through the ``to`` field or ``/msg``; with a ``ref`` that is fresh,
    one this user used before (``own``), or one another user used (``other``)."""

    session: int
    to: int | None
    variant: int
    command: bool
    ref: str


@dataclass(frozen=True)
class History:
    """An open session asks for history ``before`` an id of the log (by index), past its
    end (``-1``), or the newest (None)."""

    session: int
    before: int | None
    limit: int


@dataclass(frozen=True)
class Drop:
    session: int


@dataclass(frozen=True)
class Resume:
    """A dropped session logs in again with its token and ``resume``: after ``own`` (its last
    id), ``entry`` (an id of the log by ``index``, often someone else's private message),
    ``unknown`` (an id the log does not have), with its epoch or (``other_epoch``) another."""

    dropped: int
    after: str
    index: int
    other_epoch: bool


@dataclass(frozen=True)
class Bounce:
    """An open session drops and at once resumes (as :class:`Resume` says)."""

    session: int
    resume: Resume


@dataclass(frozen=True)
class Logout:
    session: int


@dataclass(frozen=True)
class MarkRead:
    """An open session marks read an id of the log (by index; often another user's private
    message) or, with ``-1``, one past its end."""

    session: int
    which: int


@dataclass(frozen=True)
class TypingNotice:
    """An open session says it is typing: to everyone (``to`` None) or to ``USERS[to]``
    spelled ``variant``."""

    session: int
    to: int | None
    variant: int


Action = Open | Send | History | Drop | Resume | Bounce | Logout | MarkRead | TypingNotice

index = st.integers(0, 50)
user = st.integers(0, len(USERS) - 1)
variant = st.integers(0, 4)
private_sends = st.builds(Send, index, user, variant, st.booleans(),
                          st.sampled_from(["fresh", "fresh", "own", "other"]))
resumes = st.builds(Resume, index, st.sampled_from(["own", "entry", "entry", "unknown"]), index,
                    st.booleans())
actions = st.lists(
    st.one_of(
        st.builds(Open, user, variant,
                  st.sampled_from(["own_token", "own_token", "own_password", "other_token",
                                   "other_password", "wrong"]), user),
        st.builds(Send, index, st.none() | user, variant, st.booleans(),
                  st.sampled_from(["fresh", "fresh", "own", "other"])),
        private_sends,
        private_sends,
        private_sends,
        st.builds(History, index, st.none() | st.integers(-1, 50), st.integers(1, 200)),
        st.builds(Drop, index),
        resumes,
        st.builds(Bounce, index, resumes),
        st.builds(Bounce, index, resumes),
        st.builds(Logout, index),
        st.builds(MarkRead, index, st.integers(-1, 50)),
        st.builds(MarkRead, index, st.integers(0, 50)),
        st.builds(TypingNotice, index, st.none() | user, variant),
        st.builds(TypingNotice, index, user, variant),
    ),
    min_size=5,
    max_size=30,
)


# --------------------------------------------------------------------------- connections


class Conn(Recorder):
    """One connection of ``user`` (a key) and every frame it received, raw and parsed."""

    def __init__(self, user: str, ws: ClientConnection) -> None:
        super().__init__(ws, user)
        self.welcome: Frame | None = None
        self.token: str | None = None

    @property
    def messages(self) -> list[Frame]:
        """Every message object received: live, replayed, and inside history pages."""
        found = []
        for frame in self.frames:
            if frame.get("type") == "message":
                found.append(frame)
            elif frame.get("type") == "history":
                found.extend(frame["messages"])
        return found


class Scenario:
    def __init__(self, server: ServerThread) -> None:
        self.server = server
        self.open: list[Conn] = []
        self.dropped: list[Conn] = []
        self.every: list[Conn] = []
        self.tokens: dict[str, list[str]] = {k: [] for k in PASSWORDS}  # valid tokens
        self.refs: dict[str, list[str]] = {k: [] for k in PASSWORDS}  # refs each user used
        self.marked: dict[str, set[str]] = {k: set() for k in PASSWORDS}  # ids each user marked
        self.secrets: list[tuple[str, str, str]] = []  # (sender key, recipient key, text)
        self.ids: list[str] = []  # ids seen by anyone, in the order first seen
        self.numbers = itertools.count(1)
        self.refused = 0

    async def login(self, user: str, name: str, frame: Frame) -> Conn | None:
        """Log in as ``name`` with ``frame``'s credential; None if refused (checked: one
        ``auth_failed`` error, then close 4001)."""
        ws = await open_ws(self.server.url)
        conn = Conn(user, ws)
        conn.start()
        self.every.append(conn)
        await send_json(ws, {"type": "login", "user": name, **frame})
        await conn.wait(lambda: bool(conn.frames) or conn.reader is None or conn.reader.done(),
                        "the answer to the login")
        first = conn.frames[0]
        if first["type"] != "welcome":
            await conn.wait(lambda: conn.reader is not None and conn.reader.done(), "the close")
            assert (first["type"], first["code"], ws.close_code) == ("error", "auth_failed", 4001), first
            assert len(conn.frames) == 1, conn.frames
            self.refused += 1
            return None
        assert key(first["user"]) == user, f"{name} logged in as {first['user']}"
        conn.welcome, conn.token = first, first["token"]
        if first["token"] not in self.tokens[user]:
            self.tokens[user].append(first["token"])
        # The backlog ends before the answer to this who: from here on the session is live.
        fence = f"w{next(self.numbers)}"
        await send_json(ws, {"type": "who", "ref": fence})
        await conn.wait(lambda: any(f.get("ref") == fence for f in conn.frames), "the backlog")
        self.note_ids(conn)
        self.open.append(conn)
        return conn

    def note_ids(self, conn: Conn) -> None:
        for message in conn.messages:
            if message["id"] not in self.ids:
                self.ids.append(message["id"])

    async def play(self, script: list[Action]) -> None:
        for user_key in PASSWORDS:  # everyone registered, with the spelling of USERS
            name = next(n for n in USERS if key(n) == user_key)
            await self.login(user_key, name, {"password": PASSWORDS[user_key]})
        # A private message between every two users (and a public one from each), so that
        # every example has secrets to leak, whatever the actions drawn.
        for sender, conn in enumerate(list(self.open)):
            for to in [None, *range(len(USERS))]:
                if to != sender:
                    await self.do_send(conn, Send(0, to, sender, to == 2, "fresh"))
        await self.settle()
        for action in script:
            for conn in self.open:
                self.note_ids(conn)
            match action:
                case Open():
                    await self.do_open(action)
                case Send() if self.open:
                    await self.do_send(self.open[action.session % len(self.open)], action)
                case History() if self.open:
                    conn = self.open[action.session % len(self.open)]
                    frame: Frame = {"type": "history", "limit": action.limit}
                    if action.before is not None:
                        frame["before"] = self.pick_id(action.before)
                    await send_json(conn.ws, frame)
                    event("history" + (" before an id" if action.before is not None else ""))
                case Drop() if self.open:
                    conn = self.open.pop(action.session % len(self.open))
                    assert conn.ws.transport is not None
                    conn.ws.transport.abort()
                    self.dropped.append(conn)
                case Resume() if self.dropped:
                    await self.do_resume(self.dropped.pop(action.dropped % len(self.dropped)), action)
                case Bounce(resume=resume) if self.open:
                    conn = self.open.pop(action.session % len(self.open))
                    assert conn.ws.transport is not None
                    conn.ws.transport.abort()
                    await self.do_resume(conn, resume)
                case MarkRead() if self.open:
                    conn = self.open[action.session % len(self.open)]
                    entry_id = self.pick_id(action.which)
                    self.marked[conn.user].add(entry_id)
                    await send_json(conn.ws, {"type": "read", "id": entry_id})
                    event("read")
                case TypingNotice() if self.open:
                    conn = self.open[action.session % len(self.open)]
                    notice: Frame = {"type": "typing"}
                    if action.to is not None:
                        notice["to"] = spelling(action.to, action.variant)
                    await send_json(conn.ws, notice)
                    event("typing" + (" to a user" if action.to is not None else ""))
                case Logout() if self.open:
                    conn = self.open.pop(action.session % len(self.open))
                    await send_json(conn.ws, {"type": "logout"})
                    await conn.wait(lambda c=conn: c.reader is not None and c.reader.done(),  # type: ignore[misc]
                                    "the close after logout")
                    if conn.token in self.tokens[conn.user]:
                        self.tokens[conn.user].remove(conn.token)

    def pick_id(self, which: int) -> str:
        if which < 0 or not self.ids:
            return str(10**6)  # past the end of the log
        return self.ids[which % len(self.ids)]

    async def do_open(self, action: Open) -> None:
        me = key(USERS[action.user])
        other = key(USERS[action.other])
        if action.credential.startswith("other") and other == me:
            other = key(USERS[(action.user + 1) % len(USERS)])
        name = spelling(action.user, action.variant)
        credential = action.credential
        if credential == "own_token" and not self.tokens[me]:
            credential = "own_password"
        if credential == "other_token" and not self.tokens[other]:
            credential = "other_password"
        frame: Frame = {
            "own_token": lambda: {"token": self.tokens[me][-1]},
            "own_password": lambda: {"password": PASSWORDS[me]},
            "other_token": lambda: {"token": self.tokens[other][-1]},
            "other_password": lambda: {"password": PASSWORDS[other]},
            "wrong": lambda: {"password": PASSWORDS[me] + "?"},
        }[credential]()
        conn = await self.login(me, name, frame)
        should = credential.startswith("own")
        assert (conn is not None) is should, f"{credential} login as {name}: {conn is not None}"
        event(f"login with {credential}")

    async def do_send(self, conn: Conn, action: Send) -> None:
        n = next(self.numbers)
        ref = f"{conn.user}-{n}"
        if action.ref == "own" and self.refs[conn.user]:
            ref = self.refs[conn.user][n % len(self.refs[conn.user])]
        elif action.ref == "other":
            theirs = [r for k, refs in self.refs.items() if k != conn.user for r in refs]
            if theirs:
                ref = theirs[n % len(theirs)]
                event("a send with another user's ref")
        self.refs[conn.user].append(ref)
        if action.to is None:
            text = f"publica-{n}"
            frame: Frame = {"type": "send", "text": text, "ref": ref}
        else:
            to = spelling(action.to, action.variant)
            text = f"segredo-{n}-de-{conn.user}-para-{key(to)}"
            self.secrets.append((conn.user, key(to), text))
            if action.command:
                frame = {"type": "send", "text": f"/msg {to} {text}", "ref": ref}
            else:
                frame = {"type": "send", "text": text, "to": to, "ref": ref}
        await send_json(conn.ws, frame)

    async def do_resume(self, old: Conn, action: Resume) -> None:
        assert old.welcome is not None
        epoch = old.welcome["epoch"] + ("-outra" if action.other_epoch else "")
        if action.after == "own":
            after = old.messages[-1]["id"] if old.messages else old.welcome["last"] or "1"
        elif action.after == "entry":
            after = self.pick_id(action.index)
        else:
            after = str(10**6 + action.index)
        token = old.token if old.token in self.tokens[old.user] else None
        credential = {"token": token} if token else {"password": PASSWORDS[old.user]}
        name = next(n for n in USERS if key(n) == old.user)
        conn = await self.login(old.user, name, {**credential, "resume": {"epoch": epoch, "after": after}})
        assert conn is not None
        event(f"resume after {action.after}" + (" of another epoch" if action.other_epoch else ""))

    async def settle(self) -> None:
        """Every open session sends itself a private fence; once each has its own back, it
        has received everything the server will send it (one writer publishes in order)."""
        fences = []
        for conn in self.open:
            ref = f"fence-{next(self.numbers)}"
            fences.append((conn, ref))
            name = next(n for n in USERS if key(n) == conn.user)
            await send_json(conn.ws, {"type": "send", "text": "cerca", "to": name, "ref": ref})
        for conn, ref in fences:
            await conn.wait(lambda c=conn, r=ref: any(f.get("ref") == r for f in c.frames),  # type: ignore[misc]
                            "the fence")

    def log(self) -> list[Entry]:
        async def read() -> list[Entry]:
            store = self.server.chat.store
            head = await store.head()
            entries = [await store.get(str(n)) for n in range(1, int(head) + 1)] if head else []
            return [e for e in entries if e is not None]

        result: list[Entry] = self.server.call(read)
        return result

    def check(self, log: list[Entry]) -> None:
        by_id = {e.id: e for e in log}
        for conn in self.every:
            me = conn.user
            if conn.welcome is not None and conn.welcome["last"] is not None:
                last = by_id[conn.welcome["last"]]
                assert last.visible_to(me), f"{me}'s welcome.last is {last}"
            positions = [f["id"] for f in conn.frames if f.get("type") == "read"]
            if conn.welcome is not None and conn.welcome["read"] is not None:
                positions.append(conn.welcome["read"])
            for position in positions:
                assert position in self.marked[me], f"{me} got a read position of others: {position}"
                assert by_id[position].visible_to(me), f"{me}'s read position {position}"
            for notice in (f for f in conn.frames if f.get("type") == "typing"):
                assert key(notice["user"]) != me, f"{me} got their own typing: {notice}"
                if "to" in notice:
                    assert key(notice["to"]) == me, f"{me} got a private typing of others: {notice}"
            for message in conn.messages:
                entry = by_id.get(message["id"])
                assert entry is not None, f"{me} got an id not in the log: {message}"
                assert entry.visible_to(me), f"{me} got a private message of others: {message}"
                assert (message["from"], message["to"], message["text"]) == (
                    entry.sender, entry.to, entry.text), message
                if "ref" in message:
                    assert entry.sender_key == me and message["ref"] == entry.ref, (
                        f"{me} got a ref on {entry}: {message}")
            for sender, recipient, text in self.secrets:
                if me not in (sender, recipient):
                    leaks = [raw for raw in conn.raw if text in raw]
                    assert not leaks, f"{me} saw {text!r}: {short(leaks)}"

    async def close(self) -> None:
        for conn in self.every:
            if conn.ws.transport is not None:
                conn.ws.transport.abort()
            if conn.reader is not None:
                await conn.reader


async def run(server: ServerThread, script: list[Action]) -> None:
    scenario = Scenario(server)
    try:
        await scenario.play(script)
        await scenario.settle()
        log = await asyncio.to_thread(scenario.log)
        scenario.check(log)
        private = sum(e.to is not None for e in log)
        event(f"{private // 5 * 5}+ private messages in the log")
    finally:
        await scenario.close()


@settings(max_examples=60, deadline=None)
@given(script=actions)
def test_no_sequence_of_actions_shows_a_user_anothers_private_message(script: list[Action]) -> None:
    with ServerThread(rate_limit=0, history=1000, login_failures_per_name=10**6,
                      login_failures_per_address=10**6) as server:
        asyncio.run(run(server, script))
