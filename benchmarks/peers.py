"""The peers: what a user would pick instead of wschat, each as small as its docs show it.

``python -m benchmarks.peers KIND [--host H] [--port P]`` prints ``listening on PORT`` once it
accepts connections, then serves until killed. KIND is one of:

- ``relay-broadcast``: websockets' asyncio server relaying every text frame to every client
  with websockets' own ``broadcast()`` (the library's recommended fan-out);
- ``relay-loop``: the same relay as most tutorials write it,
  ``for ws in clients: await ws.send(message)``;
- ``socketio``: python-socketio's asyncio server on aiohttp, ``await sio.emit("message", data)``
  to everyone;
- ``picows``: picows (Cython WebSockets on asyncio); a broadcast's payload is put once in a
  bytearray with room for the header in front, and that one prepared buffer is handed to every
  client's ``send_reuse_external_bytearray`` (picows' zero-copy send);
- ``socketify``: socketify (Python bindings of uWebSockets on libuv): every client subscribes to
  one topic and a broadcast is one ``app.publish``. It cannot listen on port 0 and report the
  port, so for ``--port 0`` a free port is chosen first;
- ``aiohttp``: aiohttp's WebSocket server; a broadcast's payload is encoded once and
  ``await ws.send_frame(payload, TEXT)`` (what ``send_str`` does after encoding) goes to each
  client in a loop.

The Node peers (Node's ``ws``, socket.io, uWebSockets.js) are in benchmarks/node/peers.js.

They do what the benchmark needs and nothing more: no login, no storage, no ordering or
delivery guarantee. For the private-message measurement a client names itself
(``?name=NAME`` in the URL, or the Socket.IO query string) and a frame ``@NAME text`` (the
``private`` event for Socket.IO) goes to that client only. Every server keeps its library's
defaults (keepalive pings, permessage-deflate when the client offers it) and runs on the same
event loop as wschat (uvloop when installed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit

from .loadgen import new_loop, raise_file_limit

if TYPE_CHECKING:  # aiohttp is the bench extra's; each peer imports what it runs on
    from aiohttp import web

KINDS = ("relay-broadcast", "relay-loop", "socketio", "picows", "socketify", "aiohttp")


async def relay(host: str, port: int, use_broadcast: bool) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    clients: set[ServerConnection] = set()
    names: dict[str, ServerConnection] = {}

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        name = parse_qs(urlsplit(ws.request.path).query).get("name", [""])[0]
        clients.add(ws)
        if name:
            names[name] = ws
        try:
            async for message in ws:
                if isinstance(message, str) and message.startswith("@"):
                    to, _, text = message[1:].partition(" ")
                    target = names.get(to)
                    if target is not None:
                        await target.send(text)
                elif use_broadcast:
                    broadcast(clients, message)
                else:
                    # The tutorial loop (over a copy: the set may change while we await).
                    for client in list(clients):
                        try:
                            await client.send(message)
                        except ConnectionClosed:
                            pass
        finally:
            clients.discard(ws)
            if names.get(name) is ws:
                del names[name]

    async with serve(handler, host, port) as server:
        print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Future()


async def _serve_aiohttp(app: web.Application, host: str, port: int) -> None:
    """Serve ``app`` forever, printing the ``listening on PORT`` line the bench waits for."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = cast(asyncio.Server | None, site._server)  # aiohttp types it as AbstractServer
    assert server is not None and server.sockets
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Future()


async def socketio_server(host: str, port: int) -> None:
    import socketio
    from aiohttp import web

    sio = socketio.AsyncServer(async_mode="aiohttp", transports=["websocket"])
    app = web.Application()
    sio.attach(app)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        name = parse_qs(environ.get("QUERY_STRING", "")).get("name", [""])[0]
        if name:
            await sio.enter_room(sid, name)

    @sio.on("message")
    async def message(sid: str, data: Any) -> None:
        await sio.emit("message", data)

    @sio.on("private")
    async def private(sid: str, data: dict[str, str]) -> None:
        await sio.emit("message", data["text"], to=data["to"])

    await _serve_aiohttp(app, host, port)


def _name_of(path: str) -> str:
    """The ``name`` of a request path's query string (``""`` when there is none)."""
    return parse_qs(urlsplit(path).query).get("name", [""])[0]


def _private(text: bytes) -> tuple[str, bytes] | None:
    """``@NAME text`` -> (NAME, text); any other message -> None (a broadcast)."""
    if not text.startswith(b"@"):
        return None
    to, _, rest = text[1:].partition(b" ")
    return to.decode(errors="replace"), rest


#: picows writes a frame header of at most 14 bytes in front of the payload.
_PICOWS_HEAD = 14


async def picows_server(host: str, port: int) -> None:
    from picows import (
        WSFrame,
        WSListener,
        WSMsgType,
        WSTransport,
        WSUpgradeRequest,
        ws_create_server,
    )

    clients: set[WSTransport] = set()
    names: dict[str, WSTransport] = {}

    # WSListener is Any when picows is absent (mypy then sees subclassing Any).
    class Relay(WSListener):  # type: ignore[misc, unused-ignore]
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def on_ws_connected(self, transport: WSTransport) -> None:
            clients.add(transport)
            if self.name:
                names[self.name] = transport

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            clients.discard(transport)
            if names.get(self.name) is transport:
                del names[self.name]

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind == WSMsgType.TEXT:
                payload = frame.get_payload_as_bytes()
                private = _private(payload)
                if private is not None:
                    target = names.get(private[0])
                    if target is not None:
                        target.send(WSMsgType.TEXT, private[1])
                    return
                # One prepared buffer for every client: picows writes the (same) header into
                # the room in front and sends header + payload without copying the payload.
                prepared = bytearray(_PICOWS_HEAD) + payload
                for client in clients:
                    client.send_reuse_external_bytearray(WSMsgType.TEXT, prepared, _PICOWS_HEAD)
            elif kind == WSMsgType.CLOSE:
                # picows leaves the close handshake to the listener (as its examples do).
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    def factory(request: WSUpgradeRequest) -> Relay:
        return Relay(_name_of(request.path.decode(errors="replace")))

    server = await ws_create_server(factory, host, port)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Future()


def _free_port(host: str) -> int:
    """A port that nothing listens on now (for servers that cannot report the one they got)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def socketify_server(host: str, port: int) -> None:
    """Runs socketify's own loop until killed (it is not an asyncio coroutine)."""
    from socketify import App, CompressOptions, OpCode

    if port == 0:
        port = _free_port(host)
    names: dict[str, Any] = {}
    app = App()

    def upgrade(res: Any, req: Any, context: Any) -> None:
        res.upgrade(req.get_header("sec-websocket-key"), req.get_header("sec-websocket-protocol"),
                    req.get_header("sec-websocket-extensions"), context,
                    req.get_query("name") or "")

    def on_open(ws: Any) -> None:
        ws.subscribe("all")
        name = ws.get_user_data()
        if name:
            names[name] = ws

    def on_message(ws: Any, message: str | bytes, opcode: Any) -> None:
        data = message.encode() if isinstance(message, str) else message
        private = _private(data)
        if private is not None:
            target = names.get(private[0])
            if target is not None:
                target.send(private[1], OpCode.TEXT)
            return
        app.publish("all", data, OpCode.TEXT)

    def on_close(ws: Any, code: int, message: Any) -> None:
        name = ws.get_user_data()
        if name and names.get(name) is ws:
            del names[name]

    app.ws("/*", {
        "compression": CompressOptions.DISABLED,
        # uWebSockets closes a connection that has sent nothing for idle_timeout (120 s): the
        # fan-out's clients only listen, so the server pings them, as uWebSockets.js does by
        # default (socketify's default is not to).
        "send_pings_automatically": True,
        "upgrade": upgrade,
        "open": on_open,
        "message": on_message,
        "close": on_close,
    })

    def on_listen(config: Any) -> None:
        print(f"listening on {port}", flush=True)

    app.listen({"port": port, "host": host}, on_listen)
    app.run()


async def aiohttp_server(host: str, port: int) -> None:
    from aiohttp import WSMsgType, web

    clients: set[web.WebSocketResponse] = set()
    names: dict[str, web.WebSocketResponse] = {}

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        name = request.query.get("name", "")
        clients.add(ws)
        if name:
            names[name] = ws
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                payload = message.data.encode()
                private = _private(payload)
                if private is not None:
                    target = names.get(private[0])
                    if target is not None and not target.closed:
                        await target.send_frame(private[1], WSMsgType.TEXT)
                    continue
                # Encoded once; send_frame is what send_str does after encoding.
                for client in list(clients):  # a copy: the set may change while we await
                    if not client.closed:
                        try:
                            await client.send_frame(payload, WSMsgType.TEXT)
                        except ConnectionError:
                            pass
        finally:
            clients.discard(ws)
            if names.get(name) is ws:
                del names[name]
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    await _serve_aiohttp(app, host, port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    raise_file_limit()
    if args.kind == "socketify":
        socketify_server(args.host, args.port)  # its own loop, not asyncio's
        sys.exit(0)
    coro: Coroutine[Any, Any, None]
    if args.kind == "socketio":
        coro = socketio_server(args.host, args.port)
    elif args.kind == "picows":
        coro = picows_server(args.host, args.port)
    elif args.kind == "aiohttp":
        coro = aiohttp_server(args.host, args.port)
    else:
        coro = relay(args.host, args.port, use_broadcast=args.kind == "relay-broadcast")
    loop = new_loop()
    try:
        loop.run_until_complete(coro)
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
