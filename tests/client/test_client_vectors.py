"""The shared test vectors (client_vectors.json) replayed against ClientProtocol, with no socket.

The same file is replayed in Chromium against client_machine.js's ClientMachine
(tests/client/test_browser_vectors.py), so the Python and the browser clients are held to one
behaviour. The file's "format" entry says what a step holds; this module turns the machine's
outputs into that plain form, and tests/vectorkit.py's check_step compares, step by step.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from vectorkit import VECTORS, check_step

from wschat.client.effects import Confirmed, Online, Output, Retry
from wschat.client.events import (
    Disconnected,
    ErrorEvent,
    Help,
    History,
    Message,
    Presence,
    Read,
    Reconnected,
    TypingNotice,
    Users,
)
from wschat.client.exceptions import ChatClientError, ConnectionLost, LoginError
from wschat.client.protocol import ClientProtocol


def make(client: dict[str, Any]) -> ClientProtocol:
    counter = itertools.count(1)
    resume = client.get("resume")
    return ClientProtocol(
        client["user"],
        client.get("password"),
        client.get("token"),
        resume=(resume[0], resume[1]) if resume else None,
        reconnect=client.get("reconnect", True),
        outbox=[(ref, frame) for ref, frame in client.get("outbox", [])],
        delivered=client.get("delivered", []),
        new_ref=lambda kind: f"{kind}-{next(counter)}",
    )


def plain_event(event: Output) -> dict[str, Any]:
    """An event as the vectors write it."""
    match event:
        case Message(id=id, text=text, ref=ref):
            return {"type": "message", "id": id, "text": text, **({"ref": ref} if ref else {})}
        case Confirmed(message=message):
            return {"type": "confirmed", "id": message.id, "ref": message.ref}
        case Online(online=online):
            return {"type": "online", "online": list(online)}
        case Presence(user=user, online=online):
            return {"type": "presence", "user": user, "online": online}
        case Read(id=id):
            return {"type": "read", "id": id}
        case TypingNotice(user=user, to=to):
            return {"type": "typing", "user": user, **({"to": to} if to else {})}
        case Users(online=online, ref=ref):
            return {"type": "users", "online": list(online), **({"ref": ref} if ref else {})}
        case History(messages=messages, more=more, ref=ref):
            ids = [m.id for m in messages]
            return {"type": "history", "ids": ids, "more": more, **({"ref": ref} if ref else {})}
        case Help(ref=ref):
            return {"type": "help", **({"ref": ref} if ref else {})}
        case ErrorEvent(code=code, ref=ref):
            return {"type": "error", "code": code, **({"ref": ref} if ref else {})}
        case Disconnected(code=code):
            return {"type": "disconnected", "code": code}
        case Reconnected(welcome=welcome):
            return {"type": "reconnected", "recovered": welcome.recovered}
    raise AssertionError(f"an event the vectors cannot write: {event!r}")


def plain_retry(retry: Retry | None) -> dict[str, Any] | None:
    if retry is None:
        return None
    return {"attempt": retry.attempt, "next_url": retry.next_url, "at_once": retry.at_once}


def plain_error(error: ChatClientError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    if isinstance(error, LoginError):
        return {"login": error.code}
    if isinstance(error, ConnectionLost):
        return {"lost": error.code}
    return {"failed": True}


def state(protocol: ClientProtocol) -> dict[str, Any]:
    """Every state key the vectors may name."""
    return {
        "phase": protocol.phase.value,
        "retry": plain_retry(protocol.retry),
        "error": plain_error(protocol.error),
        "last_id": protocol.last_id,
        "epoch": protocol.epoch,
        "token": protocol.token,
        "read": protocol.read,
        "unread": protocol.unread,
        "outbox": list(protocol.outbox.refs),
        "remembered": protocol.outbox.remembered,
        "close_code": protocol.close_code,
        "dropping": protocol.dropping,
        "drop_refused": protocol.drop_refused.code if protocol.drop_refused else None,
        "login_kind": protocol.login_kind,
    }


def act(protocol: ClientProtocol, step: dict[str, Any]) -> tuple[Any, list[str]]:
    """Feed one step to the machine: what it returned, and the login frame if one was written."""
    do = step["do"]
    if do == "open":
        login = protocol.connecting()
        return login, [login] if login is not None else []
    if do == "receive":
        frame = step["frame"]
        return protocol.receive(frame if isinstance(frame, str) else json.dumps(frame)), []
    if do == "close":
        protocol.closed(step["code"], step.get("reason", ""))
        return None, []
    if do == "send":
        text = step["text"] * step.get("times", 1)
        return protocol.send(text, step.get("to"), step.get("ref")), []
    if do == "submit":
        return protocol.submit(step["frame"], step.get("ref")), []
    if do == "request":
        return protocol.request(step["frame"], step.get("ref")), []
    if do == "mark_read":
        protocol.mark_read(step["id"])
        return None, []
    if do == "typing":
        return protocol.typing(step.get("to")), []
    if do == "drop":
        return protocol.drop(), []
    if do == "logout":
        return protocol.logout(), []
    raise AssertionError(f"unknown step {do!r}")


def replay(vector: dict[str, Any]) -> list[dict[str, Any]]:
    """What the machine did at each step of ``vector`` (see vectorkit's ``did``)."""
    protocol = make(vector["client"])
    done = []
    for step in vector["steps"]:
        raised = None
        try:
            returned, login = act(protocol, step)
        except (ValueError, RuntimeError) as error:
            returned, login, raised = None, [], repr(error)
        writes = protocol.frames_to_send()
        done.append({
            "returned": returned, "raised": raised,
            "frames": [*login, *(w.frame for w in writes)], "why": [w.why for w in writes],
            "events": [plain_event(event) for event in protocol.events_received()],
            "state": state(protocol),
        })
    return done


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_the_protocol_follows_the_vector(vector: dict[str, Any]) -> None:
    for number, (step, did) in enumerate(zip(vector["steps"], replay(vector), strict=True), 1):
        check_step(f"{vector['name']}, step {number} ({step['do']})", step, did)


def test_the_vectors_cover_what_both_clients_must_agree_on() -> None:
    """Each behaviour the brief of the shared vectors names has at least one vector."""
    steps = [step for vector in VECTORS for step in vector["steps"]]
    meant = {step.get("meant") for step in steps}
    events = {event["type"] for step in steps for event in step.get("events", [])}
    closes = {step["code"] for step in steps if step["do"] == "close"}
    assert {"welcome", "backlog", "live", "confirmed", "barrier", "drop_refused", "refused",
            "unexpected", "ignored"} <= meant
    assert {"confirmed", "online", "reconnected", "disconnected", "error", "read"} <= events
    assert {1000, 1001, 1006, 1011, 1012, 1013, 4001, 4008} <= closes
    assert {"send", "submit", "request", "mark_read", "typing", "drop", "logout"} <= {
        step["do"] for step in steps}
    assert any(vector.get("pump") for vector in VECTORS)
