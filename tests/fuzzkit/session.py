"""The live server of a fuzz test: its canary pair, the fuzzer's session, and playing one
frame (from a logged-in session or as a first frame) and checking the answer against the
oracle."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections import Counter
from typing import Any

from chatkit import TIMEOUT, Frame, Recorder, http_get, open_ws, short
from hypothesis import HealthCheck, settings
from websockets.exceptions import ConnectionClosed

from fuzzkit.frames import Payload, render
from fuzzkit.oracle import (
    CANARIES,
    FUZZER,
    INVALID,
    SECRET,
    Expect,
    Model,
    error,
    expect_live,
    expect_login,
    key,
)
from wschat.server.thread import ServerThread

# --------------------------------------------------------------------------- connections


class Context:
    """The live server, the model of what it holds, and the connections that last."""

    def __init__(self, server: ServerThread, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.model = Model()
        self.fuzzer: Recorder | None = None
        self.canaries: list[Recorder] = []
        self.numbers = itertools.count(1)
        self.used_refs: list[str] = []
        self.seen: Counter[str] = Counter()  # outcomes tried, for the coverage checks

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 60))

    # -- values chosen when a frame is built

    def token(self, which: int) -> str:
        tokens = sorted(self.model.tokens)
        if which < 0 or not tokens:
            return ["nao-existe", "x" * 43, secrets.token_urlsafe(32)][which % 3]
        return tokens[which % len(tokens)]

    def token_owner(self, which: int) -> str:
        tokens = sorted(self.model.tokens)
        if not tokens:
            return "ninguem"
        return self.model.accounts[self.model.tokens[tokens[which % len(tokens)]]][0]

    def known_id(self, which: int) -> str:
        return self.model.log[which % len(self.model.log)]["id"] if self.model.log else "1"

    def used_ref(self, which: int) -> str:
        return self.used_refs[which % len(self.used_refs)] if self.used_refs else "r"

    # -- logins

    async def login(self, user: str, *, password: str | None = None, token: str | None = None
                    ) -> Recorder:
        ws = await open_ws(self.server.url)
        frame: Frame = {"type": "login", "user": user}
        frame.update({"password": password} if password is not None else {"token": token})
        await ws.send(json.dumps(frame))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert welcome["type"] == "welcome", welcome
        self.model.tokens[welcome["token"]] = key(user)
        if password is not None and key(user) not in self.model.accounts:
            self.model.accounts[key(user)] = (welcome["user"], password)
        recorder = Recorder(ws).start()
        last = welcome["last"]
        if last is not None:  # the history (every login here is fresh): up to welcome.last
            await recorder.wait(lambda: any(f.get("id") == last for f in recorder.frames),
                                "the backlog")
        return recorder

    async def fuzzer_session(self) -> Recorder:
        """The fuzzer's connection, logged in again (token, else password) if it closed."""
        if self.fuzzer is None or self.fuzzer.closed:
            token = next((t for t, k in self.model.tokens.items() if k == key(FUZZER)), None)
            self.fuzzer = await (self.login(FUZZER, token=token) if token
                                 else self.login(FUZZER, password=SECRET))
            # A fresh login's history: the 50 newest visible messages (nobody wrote to the
            # fuzzer while it was away, so there is nothing stored-and-forwarded).
            backlog = [f["id"] for f in self.fuzzer.frames if f["type"] == "message"]
            assert backlog == [m["id"] for m in self.model.visible(FUZZER)[-50:]], backlog
        return self.fuzzer

    def revoke(self, user: str) -> None:
        for token in [t for t, k in self.model.tokens.items() if k == key(user)]:
            del self.model.tokens[token]

    # -- after every frame

    async def canary_round(self) -> None:
        """canA sends canB a private message; both must get it (the server still serves)."""
        a, b = self.canaries
        n = next(self.numbers)
        ref = f"can-{n}"
        await a.ws.send(json.dumps({"type": "send", "to": CANARIES[1], "text": f"ping {n}", "ref": ref}))
        await a.wait(lambda: any(f.get("ref") == ref for f in a.frames), "the canary's echo")
        echo = next(f for f in a.frames if f.get("ref") == ref)
        assert echo["type"] == "message", echo
        await b.wait(lambda: any(f.get("id") == echo["id"] for f in b.frames), "the canary's message")
        self.model.append(echo)

    def check_log_head(self) -> None:
        expected = self.model.log[-1]["id"] if self.model.log else None
        head = self.server.call(self.server.chat.store.head)
        assert head == expected, f"the log's head is {head}, the model's {expected}"

    async def final_checks(self) -> None:
        """Canaries got exactly their visible entries; the log is exactly the model's."""
        store = self.server.chat.store
        for recorder, name in zip(self.canaries, CANARIES, strict=True):
            got = [(m["id"], m["text"]) for m in recorder.frames if m["type"] == "message"]
            assert got == [(m["id"], m["text"]) for m in self.model.visible(name)], name

        async def read_log() -> list[Any]:
            head = await store.head()
            return [await store.get(str(n)) for n in range(1, int(head) + 1)] if head else []

        entries = self.server.call(read_log)
        assert [(e.id, e.sender, e.to, e.text) for e in entries] == [
            (m["id"], m["from"], m["to"], m["text"]) for m in self.model.log
        ]
        status, _, body = http_get(self.server.http_url + "healthz")
        assert (status, body.strip()) == (200, b"ok")
        fresh = await self.login(f"novo{next(self.numbers)}", password="outra-senha")
        await fresh.close()
        await self.canary_round()


# --------------------------------------------------------------------------- checking


def check_error(frame: Frame, expect: Expect) -> None:
    assert frame.get("type") == "error", f"expected an error {sorted(expect.codes)}, got {short(frame)}"
    assert frame["code"] in expect.codes, f"code {frame['code']}, expected one of {sorted(expect.codes)}"
    assert isinstance(frame["detail"], str) and frame["detail"], frame
    assert frame.get("ref") == expect.ref, f"ref {frame.get('ref')!r}, expected {expect.ref!r}"
    if expect.hint and frame["code"] == INVALID and expect.codes == {INVALID}:
        assert expect.hint in frame["detail"], frame


def check_answer(ctx: Context, frames: list[Frame], expect: Expect) -> None:
    """The frames a logged-in session got for one frame (between it and the fence)."""
    me = FUZZER
    if expect.kind == "error":
        assert len(frames) == 1, f"expected one error, got {short(frames)}"
        check_error(frames[0], expect)
    elif expect.kind == "message":
        assert len(frames) == 1, f"expected the stored message, got {short(frames)}"
        echo = frames[0]
        assert echo["type"] == "message", echo
        assert (echo["from"], echo["to"], echo["text"]) == (me, expect.to, expect.text), short(echo)
        assert echo.get("ref") == expect.ref, echo
        assert isinstance(echo["ts"], (int, float)) and isinstance(echo["id"], str)
        ctx.model.append(echo)
        if expect.ref is not None:
            ctx.used_refs.append(expect.ref)
    elif expect.kind == "resend":
        original = ctx.model.refs[key(me)][expect.ref or ""]
        assert len(frames) == 1, short(frames)
        back = frames[0]
        assert (back["type"], back["id"], back["text"], back.get("ref")) == (
            "message", original["id"], original["text"], expect.ref), short(back)
    elif expect.kind == "users":
        assert len(frames) == 1 and frames[0]["type"] == "users", short(frames)
        online = frames[0]["online"]
        assert {me, *CANARIES} <= set(online), online
        assert frames[0].get("ref") == expect.ref
    elif expect.kind == "help":
        assert len(frames) == 1 and frames[0]["type"] == "help", short(frames)
        assert "/msg" in frames[0]["text"] and frames[0].get("ref") == expect.ref
    elif expect.kind == "history":
        assert len(frames) == 1, short(frames)
        page = frames[0]
        if expect.maybe_invalid and page.get("type") == "error":
            check_error(page, error({INVALID}, expect.ref))
            return
        assert page["type"] == "history" and page.get("ref") == expect.ref, short(page)
        got = [m["id"] for m in page["messages"]]
        if expect.maybe_invalid:
            assert (got, page["more"]) == ([], False), short(page)
            return
        visible = [m["id"] for m in ctx.model.visible(me)]
        if expect.before is not None:
            visible = [i for i in visible if int(i) < int(expect.before)]
        assert got == visible[-expect.limit:], f"history page {got}, expected {visible[-expect.limit:]}"
        assert page["more"] is (len(visible) > expect.limit)
        assert all("ref" not in m for m in page["messages"])
    elif expect.kind == "read":
        assert frames == [{"type": "read", "id": expect.entry_id}], short(frames)
        ctx.model.reads[key(me)] = int(expect.entry_id)
    elif expect.kind == "nothing":
        assert frames == [], f"expected no answer, got {short(frames)}"
    else:
        raise AssertionError(f"unexpected expectation {expect}")


def describe(expect: Expect) -> str:
    """A label for Hypothesis' statistics (``--hypothesis-show-statistics``)."""
    if expect.kind in ("error", "refused"):
        return f"{expect.kind} {'/'.join(sorted(expect.codes))}"
    if expect.kind == "close":
        return f"close {expect.close}"
    return expect.kind


async def play_live(ctx: Context, payload: Payload) -> Expect:
    fuzzer = await ctx.fuzzer_session()
    data = render(payload, ctx)
    expect = expect_live(ctx.model, FUZZER, data, payload.binary)
    mark = len(fuzzer.frames)
    if payload.binary:
        assert isinstance(data, bytes)
        await fuzzer.ws.send(data)
    elif isinstance(data, bytes):
        await fuzzer.ws.send(data, text=True)  # not UTF-8: sent as it is
    else:
        await fuzzer.ws.send(data)
    if expect.kind == "close":
        await fuzzer.wait(lambda: fuzzer.closed, f"the close {expect.close}")
        assert fuzzer.ws.close_code == expect.close, (fuzzer.ws.close_code, expect)
        assert fuzzer.frames[mark:] == [], f"frames before the close: {short(fuzzer.frames[mark:])}"
        if expect.close == 1000:
            ctx.revoke(FUZZER)
        status, _, _ = http_get(ctx.server.http_url + "healthz")
        assert status == 200
    else:
        # A fence: a private message to oneself goes through the same queue as every send,
        # so its echo comes after anything the frame above caused.
        fence = f"fence-{next(ctx.numbers)}-{secrets.token_hex(4)}"
        await fuzzer.ws.send(json.dumps({"type": "send", "to": FUZZER, "text": "cerca", "ref": fence}))
        await fuzzer.wait(lambda: any(f.get("ref") == fence for f in fuzzer.frames[mark:]),
                          f"the fence after {expect}")
        frames = fuzzer.frames[mark:]
        end = next(i for i, f in enumerate(frames) if f.get("ref") == fence)
        try:
            check_answer(ctx, frames[:end], expect)
        finally:
            ctx.model.append(frames[end])
    await ctx.canary_round()
    ctx.check_log_head()
    return expect


async def play_login(ctx: Context, payload: Payload) -> Expect:
    data = render(payload, ctx)
    expect = expect_login(ctx.model, data, payload.binary)
    ws = await open_ws(ctx.server.url)
    try:
        if payload.binary:
            assert isinstance(data, bytes)
            await ws.send(data)
        elif isinstance(data, bytes):
            await ws.send(data, text=True)
        else:
            await ws.send(data)
        if expect.kind == "welcome":
            welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert welcome["type"] == "welcome", f"expected welcome as {expect.user}, got {short(welcome)}"
            assert welcome["user"] == expect.user
            if expect.register is not None:
                ctx.model.accounts[key(expect.user)] = (expect.user, expect.register)
            ctx.model.tokens[welcome["token"]] = key(expect.user)
        else:
            frames: list[Frame] = []
            try:
                while True:
                    frames.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
            except ConnectionClosed:
                pass
            if expect.kind == "close":
                assert (ws.close_code, frames) == (expect.close, []), (ws.close_code, short(frames))
            else:
                assert ws.close_code == 4001, (ws.close_code, short(frames))
                assert len(frames) == 1, short(frames)
                error_ = frames[0]
                assert error_["type"] == "error" and error_["code"] in expect.codes, (
                    f"{short(error_)}, expected one of {sorted(expect.codes)}")
                assert isinstance(error_["detail"], str) and error_["detail"]
            status, _, _ = http_get(ctx.server.http_url + "healthz")
            assert status == 200
    finally:
        await ws.close()
    await ctx.canary_round()
    ctx.check_log_head()
    return expect


FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,  # the server is shared: a replayed example must not depend on old state
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def assert_tried(ctx: Context, labels: set[str]) -> None:
    missing = labels - set(ctx.seen)
    assert not missing, f"never tried: {sorted(missing)}; tried {sorted(ctx.seen.items())}"
