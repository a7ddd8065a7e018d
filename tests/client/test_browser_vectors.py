"""The shared test vectors (client_vectors.json) replayed in Chromium against client_machine.js.

The page's own modules (through ``/chat.js``, which re-exports them, served by a real server
on 127.0.0.1) are imported in a headless Chromium, and every vector is fed to their
``ClientMachine``, the port of wschat/client/protocol.py: the script below only turns the
machine's outputs into the plain form of the vectors, and the comparison is
tests/vectorkit.py's, the same as for the Python replay, so both clients are held to the same
expectations. The vectors marked ``pump`` are also replayed through ``ChatConnection`` with a
stand-in WebSocket: the frames its trace hook reports must be the vector's, in order.

Without a browser these tests skip with a loud reason (browserkit.browser_verdict); under
CI=true that is a failure instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from browserkit import browser_verdict, find_chromium, launch, new_tab
from vectorkit import ID_ORDER, VECTORS, check_step

from wschat.server.thread import ServerThread

try:
    from playwright.sync_api import sync_playwright

    _PLAYWRIGHT_ERROR: str | None = None
except ImportError as error:  # pragma: no cover - reported by the verdict below
    _PLAYWRIGHT_ERROR = str(error)

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: Runs every vector against ClientMachine; returns, per vector and step, what the machine did
#: in the plain form of client_vectors.json.
REPLAY_MACHINE = """
async (vectors) => {
  const m = await import("/chat.js");
  const withRef = (frame) => (typeof frame.ref === "string" ? { ref: frame.ref } : {});
  const plainEvent = (e) => {
    const f = e.frame;
    switch (e.kind) {
      case "message": return { type: "message", id: f.id, text: f.text, ...withRef(f) };
      case "confirmed": return { type: "confirmed", id: f.id, ref: f.ref };
      case "online": return { type: "online", online: e.online };
      case "presence": return { type: "presence", user: f.user, online: f.online };
      case "read": return { type: "read", id: f.id };
      case "typing": return { type: "typing", user: f.user, ...(f.to ? { to: f.to } : {}) };
      case "users": return { type: "users", online: f.online, ...withRef(f) };
      case "history":
        return { type: "history", ids: f.messages.map((x) => x.id), more: f.more, ...withRef(f) };
      case "help": return { type: "help", ...withRef(f) };
      case "error": return { type: "error", code: f.code, ...withRef(f) };
      case "disconnected": return { type: "disconnected", code: e.code };
      case "reconnected": return { type: "reconnected", recovered: e.welcome.recovered };
      default: return { type: `unknown: ${e.kind}` };
    }
  };
  const plainError = (e) => {
    if (e === null) return null;
    if (e.kind === "login") return { login: e.code };
    if (e.kind === "lost") return { lost: e.code };
    return { failed: true };
  };
  const state = (x) => ({
    phase: x.phase,
    retry: x.retry === null ? null
      : { attempt: x.retry.attempt, next_url: x.retry.nextUrl, at_once: x.retry.atOnce },
    error: plainError(x.error), last_id: x.lastId, epoch: x.epoch, token: x.token,
    read: x.read, unread: x.unread, outbox: x.outbox.refs(), remembered: x.outbox.remembered,
    close_code: x.closeCode, dropping: x.dropping !== null,
    drop_refused: x.dropRefused === null ? null : x.dropRefused.code, login_kind: x.loginKind,
  });
  const act = (x, step) => {
    switch (step.do) {
      case "open": {
        const login = x.connecting();
        return [login, login === null ? [] : [login]];
      }
      case "receive":
        return [x.receive(typeof step.frame === "string" ? step.frame : JSON.stringify(step.frame)), []];
      case "close": return [x.closed(step.code, step.reason ?? ""), []];
      case "send":
        return [x.send(step.text.repeat(step.times ?? 1), { to: step.to ?? null, ref: step.ref ?? null }), []];
      case "submit": return [x.submit(step.frame, step.ref ?? null), []];
      case "request": return [x.request(step.frame, step.ref ?? null), []];
      case "mark_read": return [x.markRead(step.id), []];
      case "typing": return [x.typing(step.to ?? null), []];
      case "drop": return [x.drop(), []];
      case "logout": return [x.logout(), []];
      default: throw new Error(`unknown step ${step.do}`);
    }
  };
  return vectors.map((vector) => {
    const c = vector.client;
    let n = 0;
    const x = new m.ClientMachine({
      user: c.user, password: c.password, token: c.token, epoch: c.resume?.[0],
      lastId: c.resume?.[1], reconnect: c.reconnect,
      outbox: (c.outbox ?? []).map(([ref, frame]) => ({ ref, frame })),
      delivered: c.delivered, newRef: (kind) => `${kind}-${++n}`,
    });
    return vector.steps.map((step) => {
      let returned = null;
      let login = [];
      let raised = null;
      try {
        [returned, login] = act(x, step);
      } catch (error) {
        raised = String(error);
      }
      const writes = x.framesToSend();
      return {
        returned: returned === undefined ? null : returned, raised,
        frames: [...login, ...writes.map((w) => w.frame)], why: writes.map((w) => w.why),
        events: x.eventsReceived().map(plainEvent), state: state(x),
      };
    });
  });
}
"""

#: Replays one vector through ChatConnection over a stand-in WebSocket; returns, per step,
#: what the trace hook reported.
REPLAY_PUMP = """
async (vector) => {
  const m = await import("/chat.js");
  const sockets = [];
  class Stand {
    constructor(url) { this.url = url; sockets.push(this); }
    send() {}
    close() {}
  }
  const seen = [];
  const quiet = () => {};
  const handlers = {
    status: quiet, welcome: quiet, message: quiet, presence: quiet, users: quiet, history: quiet,
    help: quiet, error: quiet, read: quiet, typing: quiet, outbox: quiet, loginFailed: quiet,
    stopped: quiet, changed: quiet,
    trace: (direction, frame, info) => seen.push([direction, frame, info]),
  };
  const c = vector.client;
  let n = 0;
  const conn = new m.ChatConnection({
    url: "ws://127.0.0.1:1/ws", user: c.user, password: c.password, token: c.token, handlers,
    WebSocket: Stand, newRef: (kind) => `${kind}-${++n}`, random: () => 0,
  });
  conn.start();
  let lost = false;
  return vector.steps.map((step) => {
    seen.length = 0;
    if (step.do === "open" && lost) conn.retryNow(); // the backoff's timer, without the wait
    if (step.do === "open") lost = false;
    const ws = sockets[sockets.length - 1];
    switch (step.do) {
      case "open": ws.onopen(); break;
      case "receive":
        ws.onmessage({ data: typeof step.frame === "string" ? step.frame : JSON.stringify(step.frame) });
        break;
      case "close": ws.onclose({ code: step.code, reason: step.reason ?? "" }); break;
      case "send": conn.send(step.text); break;
      case "mark_read": conn.read(step.id); break;
      case "typing": conn.typing(step.to ?? null); break;
      case "drop": conn.drop(); break;
      case "logout": conn.logout(); break;
      default: throw new Error(`no such verb on the page: ${step.do}`);
    }
    if (step.do === "close") lost = true;
    return seen.map(([direction, frame, info]) => [direction, frame, JSON.parse(JSON.stringify(info))]);
  });
}
"""


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    """A tab on the chat page of a real server, errors in the page turned into failures."""
    verdict, detail = browser_verdict(find_chromium(), _PLAYWRIGHT_ERROR)
    if verdict == "fail":
        pytest.fail(detail)
    if verdict == "skip":
        pytest.skip(detail)
    with ServerThread() as server, sync_playwright() as playwright:
        browser = launch(playwright, detail)
        tab = new_tab(browser.new_context(), server.http_url)
        yield tab
        assert tab.wschat_errors == []  # type: ignore[attr-defined]
        browser.close()


@pytest.fixture(scope="module")
def replayed(page: Page) -> list[list[dict[str, Any]]]:
    result: list[list[dict[str, Any]]] = page.evaluate(REPLAY_MACHINE, VECTORS)
    return result


@pytest.mark.parametrize("index", range(len(VECTORS)), ids=[v["name"] for v in VECTORS])
def test_chat_js_follows_the_vector(replayed: list[list[dict[str, Any]]], index: int) -> None:
    vector = VECTORS[index]
    for number, (step, did) in enumerate(zip(vector["steps"], replayed[index], strict=True), 1):
        check_step(f"{vector['name']}, step {number} ({step['do']})", step, did)


PUMPED = [vector for vector in VECTORS if vector.get("pump")]


@pytest.mark.parametrize("vector", PUMPED, ids=[v["name"] for v in PUMPED])
def test_the_pump_traces_every_frame_and_socket_event(page: Page, vector: dict[str, Any]) -> None:
    traced: list[list[list[Any]]] = page.evaluate(REPLAY_PUMP, vector)
    for number, (step, seen) in enumerate(zip(vector["steps"], traced, strict=True), 1):
        where = f"{vector['name']}, step {number} ({step['do']})"
        out = [json.loads(frame) for direction, frame, _ in seen if direction == "out"]
        assert out == step.get("frames", []), where
        received = [(json.loads(frame), info["meant"]) for direction, frame, info in seen if direction == "in"]
        assert received == ([(step["frame"], step["meant"])] if step["do"] == "receive" else []), where
        kinds = [direction for direction, _, _ in seen if direction not in ("in", "out")]
        if step["do"] == "open":
            assert kinds == ["open"], where
            assert [info["why"] for direction, _, info in seen if direction == "out"] == ["login"], where
        elif step["do"] == "close":
            retry = step.get("state", {}).get("retry")
            assert kinds == (["close", "wait"] if retry is not None else ["close"]), where
            closing = [info for direction, _, info in seen if direction == "close"]
            assert closing == [{"code": step["code"], "reason": step.get("reason", "")}], where
            if retry is not None:
                waits = [info for direction, _, info in seen if direction == "wait"]
                assert waits == [{"attempt": retry["attempt"], "delay": 0}], where
        else:
            assert kinds == [], where


def test_chat_js_orders_ids_like_is_later(page: Page) -> None:
    """chat_wire.js's isLater gives every answer of the shared id-order cases, as is_later does."""
    answers: list[bool] = page.evaluate(
        """async (cases) => {
          const m = await import("/chat.js");
          return cases.map(([a, b]) => m.isLater(a, b));
        }""",
        [[a, b] for a, b, _ in ID_ORDER],
    )
    assert [(a, b, got) for (a, b, _), got in zip(ID_ORDER, answers, strict=True)] == ID_ORDER
