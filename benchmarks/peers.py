"""The peers: what a user would pick instead of wschat, each as small as its docs show it.

``python -m benchmarks.peers KIND [--host H] [--port P]`` prints ``listening on PORT`` once it
accepts connections, then serves until killed. KIND is one of:

- ``relay-broadcast``: websockets' asyncio server relaying every text frame to every client
  with websockets' own ``broadcast()`` (the library's recommended fan-out);
- ``relay-loop``: the same relay as most tutorials write it,
  ``for ws in clients: await ws.send(message)``;
- ``socketio``: python-socketio's asyncio server on aiohttp, ``await sio.emit("message", data)``
  to everyone.

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
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from .loadgen import new_loop, raise_file_limit

KINDS = ("relay-broadcast", "relay-loop", "socketio")


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

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = cast(asyncio.Server | None, site._server)  # aiohttp types it as AbstractServer
    assert server is not None and server.sockets
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Future()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    raise_file_limit()
    if args.kind == "socketio":
        coro = socketio_server(args.host, args.port)
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
