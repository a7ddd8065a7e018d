"""ClientProtocol without sockets: its contract as a sans-I/O machine, and a hypothesis state
machine that runs it against a small, correct model of the server over a network that drops.

The shared vectors (test_client_vectors.py) pin exact sequences; the state machine looks for
sequences nobody wrote down, checking after every step that each send is answered at most
once, that ``last_id`` moves back only in the known limit of docs/decisions.md ("Refs"), and
that nothing is yielded twice; and, once the network settles, that every send was answered
exactly once and every message in the log reached the user.
"""

from __future__ import annotations

import ast
import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from wschat.client.effects import Confirmed, Online, Output, Phase
from wschat.client.events import Disconnected, ErrorEvent, Message, Reconnected, Users
from wschat.client.exceptions import ChatClientError, LoginError
from wschat.client.outbox import random_refs
from wschat.client.protocol import ClientProtocol

PACKAGE = Path(__file__).resolve().parents[2] / "wschat" / "client"

#: The client's modules that must stay free of I/O, and what I/O means here.
PURE = ("protocol.py", "outbox.py", "effects.py", "exceptions.py", "events.py")
IO = {"asyncio", "websockets", "socket", "ssl", "threading", "selectors", "time"}


def welcome(last: str | None = None, recovered: bool = False, token: str = "t1") -> str:
    return json.dumps({
        "type": "welcome", "user": "ana", "session": "s", "epoch": "e1", "last": last,
        "recovered": recovered, "online": ["ana"], "token": token,
    })


def message(entry_id: str, text: str = "oi", ref: str | None = None) -> str:
    frame: dict[str, Any] = {"type": "message", "id": entry_id, "from": "bia", "to": None,
                             "text": text, "ts": 1.0}
    if ref is not None:
        frame["ref"] = ref
    return json.dumps(frame)


def ready(protocol: ClientProtocol) -> ClientProtocol:
    assert protocol.connecting() is not None
    protocol.receive(welcome())
    assert protocol.phase is Phase.READY
    return protocol


# --------------------------------------------------------------------------- the contract


@pytest.mark.parametrize("name", PURE)
def test_the_machine_does_no_io(name: str) -> None:
    tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        for imported in names:
            assert imported.split(".")[0] not in IO, f"{name} imports {imported}"


def test_outputs_are_returned_once() -> None:
    protocol = ready(ClientProtocol("ana", "pw"))
    protocol.send("oi", ref="r1")
    protocol.receive(message("1", ref="r1"))
    assert [w.frame for w in protocol.frames_to_send()] == [
        json.dumps({"type": "send", "text": "oi", "ref": "r1"}, ensure_ascii=False)]
    assert protocol.frames_to_send() == []
    assert [type(e) for e in protocol.events_received()] == [Message]
    assert protocol.events_received() == []


def test_a_second_connection_cannot_start_while_one_is_in_use() -> None:
    protocol = ClientProtocol("ana", "pw")
    protocol.connecting()
    with pytest.raises(RuntimeError, match="already in use"):
        protocol.connecting()
    protocol.receive(welcome())
    with pytest.raises(RuntimeError, match="already in use"):
        protocol.connecting()


def test_a_finished_client_can_start_again_as_the_browsers_reconnect_button_does() -> None:
    protocol = ready(ClientProtocol("ana", "pw"))
    protocol.closed(1008)
    assert protocol.finished and protocol.error is not None
    protocol.send("depois", ref="r1")  # waits, as on the page while offline
    assert protocol.connecting() is not None
    assert protocol.error is None and protocol.phase is Phase.OPENING
    protocol.receive(welcome())
    assert [json.loads(w.frame)["ref"] for w in protocol.frames_to_send()] == ["r1"]


def test_close_keeps_the_error_the_client_finished_with() -> None:
    protocol = ClientProtocol("ana", token="velho")
    protocol.connecting()
    protocol.receive(json.dumps({"type": "error", "code": "auth_failed", "detail": "não"}))
    protocol.closed(4001)
    protocol.close()
    assert isinstance(protocol.error, LoginError) and protocol.error.code == "auth_failed"
    fresh = ClientProtocol("ana", "pw")
    fresh.close(ChatClientError("bug"))
    assert str(fresh.error) == "bug" and fresh.finished


def test_refs_the_client_chooses_are_told_apart() -> None:
    refs = random_refs()
    made = [refs(kind) for kind in ("send", "send", "sync", "drop", "request")]
    assert len(set(made)) == len(made)
    assert [ref.split("-")[0] for ref in made] == ["c", "c", "sync", "drop", "c"]
    assert random_refs()("send") != random_refs()("send")  # two clients of one user


def test_the_answer_to_a_barrier_is_a_note_not_an_event() -> None:
    protocol = ClientProtocol("ana", "pw", new_ref=lambda kind: kind)
    protocol.connecting()
    protocol.receive(welcome(last="3"))
    protocol.receive(json.dumps({"type": "users", "online": ["ana", "bia"], "ref": "sync"}))
    assert protocol.events_received() == [Online(("ana", "bia"))]
    assert protocol.last_id == "3" and protocol.ready


# --------------------------------------------------------------------------- against a model


class ClientOverAFlakyNetwork(RuleBasedStateMachine):
    """One client, one correct server (its log, the refs it accepted), and the frames in
    flight both ways, which a dropped connection loses."""

    MAX_REPLAY = 4  # beyond this many missed messages a resume gets history (recovered false)

    def __init__(self) -> None:
        super().__init__()
        counter = itertools.count(1)
        self.protocol = ClientProtocol("ana", "pw", new_ref=lambda kind: f"{kind}-{next(counter)}")
        self.log: list[tuple[int, str, str | None]] = []  # (id, text, ref)
        self.accepted: dict[str, int] = {}  # ref -> id of the message it stored
        self.to_server: list[str] = []
        self.to_client: list[str] = []
        self.connected = False
        self.welcomed = False  # the server welcomed this connection
        self.sent: set[str] = set()
        self.answered: Counter[str] = Counter()
        self.yielded: list[str] = []
        self.histories = 0  # reconnects answered with history instead of a replay, so far
        self.sent_at: dict[str, int] = {}  # ref -> histories when it was sent
        self.history = 0  # how many recent messages a login without replay gets
        self.expected: list[str] | None = None  # the first login's history
        self.welcome_last: str | None = None  # welcome.last of the current connection
        self.position_known = False  # the client was told an id it may resume after
        self.first_last = 0  # the newest id at the first login

    # ------------------------------------------------------------------ the model's moves

    @initialize(history=st.sampled_from([0, 3]))
    def first_connection(self, history: int) -> None:
        """``history`` 0 is a server that keeps none (``--history 0``): the message
        ``welcome.last`` never comes, and only the barrier ends the backlog."""
        self.history = history
        self.open()

    @rule(text=st.sampled_from(["oi", "tudo bem?", "!erro"]))
    def user_sends(self, text: str) -> None:
        ref = self.protocol.send(text)
        self.sent.add(ref)
        self.sent_at[ref] = self.histories
        self.pump()

    @rule()
    def user_asks_who(self) -> None:
        ref = self.protocol.submit({"type": "who"})
        self.sent.add(ref)
        self.sent_at[ref] = self.histories
        self.pump()

    @precondition(lambda self: self.protocol.ready)
    @rule()
    def user_drops(self) -> None:
        self.protocol.drop()
        self.pump()

    @rule(text=st.sampled_from(["de outra pessoa", "mais uma"]))
    def someone_else_posts(self, text: str) -> None:
        entry = self.append(text, None)
        if self.connected and self.welcomed:
            self.to_client.append(message(str(entry), text))

    @precondition(lambda self: bool(self.to_server))
    @rule()
    def server_reads(self) -> None:
        self.serve(json.loads(self.to_server.pop(0)))

    @precondition(lambda self: bool(self.to_client))
    @rule()
    def client_reads(self) -> None:
        before = self.protocol.last_id
        self.protocol.receive(self.to_client.pop(0))
        events = self.pump()
        if self.protocol.ready and (self.welcome_last is not None or self.yielded):
            self.position_known = True
        after = self.protocol.last_id
        if before is not None and after is not None and int(after) < int(before):
            # The known limit: only the answer to a send that a history (instead of a replay)
            # came after, its original out of that history, is news older than the last id.
            assert any(isinstance(e, Message) and e.ref in self.sent
                       and self.histories > self.sent_at[e.ref] for e in events), events

    @precondition(lambda self: self.connected)
    @rule()
    def network_drops(self) -> None:
        self.lose_connection()

    @precondition(lambda self: self.protocol.phase is Phase.WAITING)
    @rule()
    def an_attempt_fails(self) -> None:
        attempt = self.protocol.retry.attempt if self.protocol.retry else -1
        self.protocol.closed(1006)
        assert self.protocol.retry is not None and self.protocol.retry.attempt == attempt + 1

    @precondition(lambda self: self.protocol.phase is Phase.WAITING)
    @rule()
    def reconnects(self) -> None:
        self.open()

    @rule()
    def settles(self) -> None:
        """Let the network carry everything, reconnecting as needed; then check the end."""
        for _ in range(200):
            if self.protocol.phase is Phase.WAITING:
                self.open()
            elif self.to_server:
                self.server_reads()
            elif self.to_client:
                self.client_reads()
            else:
                break
        assert self.protocol.ready
        assert self.protocol.outbox.refs == () and self.protocol.outbox.remembered == 0
        assert set(self.answered) == self.sent and set(self.answered.values()) <= {1}
        if not self.histories and self.expected is not None:
            assert self.yielded == self.expected + [  # no gap, in order
                str(entry) for entry, _, _ in self.log if entry > self.first_last]

    def teardown(self) -> None:
        if not self.protocol.finished:
            self.settles()

    # ------------------------------------------------------------------ the checks

    @invariant()
    def each_send_is_answered_at_most_once(self) -> None:
        assert all(count == 1 for count in self.answered.values()), self.answered

    @invariant()
    def nothing_is_yielded_twice_unless_history_came(self) -> None:
        if not self.histories:
            assert len(set(self.yielded)) == len(self.yielded)
            assert [int(i) for i in self.yielded] == sorted(int(i) for i in self.yielded)

    @invariant()
    def frames_flow_only_on_a_welcomed_connection(self) -> None:
        if self.protocol.phase in (Phase.CATCHING_UP, Phase.READY):
            assert self.connected and self.welcomed

    # ------------------------------------------------------------------ plumbing

    def pump(self) -> list[Output]:
        writes = self.protocol.frames_to_send()
        assert not writes or self.connected, "a frame for no connection"
        self.to_server.extend(w.frame for w in writes)
        events = self.protocol.events_received()
        for event in events:
            self.saw(event)
        return events

    def saw(self, event: Output) -> None:
        if isinstance(event, Message):
            self.yielded.append(event.id)
            if event.ref is not None:
                self.answered[event.ref] += 1
        elif isinstance(event, Confirmed):
            assert event.message.id in self.yielded, "a confirmation of a message never shown"
            assert event.message.ref is not None
            self.answered[event.message.ref] += 1
        elif isinstance(event, (ErrorEvent, Users)) and event.ref is not None:
            self.answered[event.ref] += 1
        else:
            assert isinstance(event, (Online, Disconnected, Reconnected)), event

    def open(self) -> None:
        login = self.protocol.connecting()
        assert login is not None
        self.to_server, self.to_client = [login], []
        self.connected, self.welcomed = True, False

    def lose_connection(self) -> None:
        self.to_server, self.to_client = [], []
        self.connected = self.welcomed = False
        self.protocol.closed(1006)
        self.pump()
        assert self.protocol.phase is Phase.WAITING

    def append(self, text: str, ref: str | None) -> int:
        entry = len(self.log) + 1
        self.log.append((entry, text, ref))
        return entry

    def serve(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "login":
            self.log_in(frame.get("resume"))
        elif kind == "who":
            self.to_client.append(json.dumps({"type": "users", "online": ["ana"], "ref": frame["ref"]}))
        elif kind == "drop":
            self.lose_connection()
        elif kind == "send" and frame["text"].startswith("!"):
            error = {"type": "error", "code": "unknown_user", "detail": "x", "ref": frame["ref"]}
            self.to_client.append(json.dumps(error))
        elif kind == "send":
            ref = frame["ref"]
            if ref not in self.accepted:
                self.accepted[ref] = self.append(frame["text"], ref)
            entry = self.accepted[ref]
            self.to_client.append(message(str(entry), self.log[entry - 1][1], ref))
        else:
            raise AssertionError(f"the client wrote {frame!r}")

    def log_in(self, resume: dict[str, str] | None) -> None:
        assert resume is not None or not self.position_known, "the client forgot where it was"
        last = self.welcome_last = str(len(self.log)) if self.log else None
        after = int(resume["after"]) if resume else 0
        recovered = resume is not None and len(self.log) - after <= self.MAX_REPLAY
        backlog = self.log[after:] if recovered else self.log[-self.history:] if self.history else []
        if self.expected is None:  # the first login: from here on, nothing may be missed
            self.expected = [str(entry) for entry, _, _ in backlog]
            self.first_last = len(self.log)
        elif not recovered:
            # History instead of a replay: too much was missed, or the client was told no id
            # yet (an empty log, or dropped before its first backlog was over) and cannot say
            # where it stopped. Gaps and repeats are the contract's from here on
            # (docs/decisions.md, "Refs", known limits).
            self.histories += 1
        self.position_known &= recovered  # history: the old position means nothing now
        self.welcomed = True
        self.to_client.append(welcome(last, recovered))
        self.to_client.extend(message(str(entry), text) for entry, text, _ in backlog)

TestClientOverAFlakyNetwork = ClientOverAFlakyNetwork.TestCase
TestClientOverAFlakyNetwork.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
