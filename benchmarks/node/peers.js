// The benchmark's Node peers: what a Node user would pick instead of wschat.
//
//   node benchmarks/node/peers.js KIND [--host H] [--port P]
//
// prints "listening on PORT" once it accepts connections, then serves until killed. KIND is:
//
// - ws:        the `ws` package's server; a broadcast is framed once (WebSocket.Sender.frame)
//              and the same prepared frame is written to every open client;
// - socketio:  socket.io's server (WebSocket transport only), `io.emit("message", data)`;
// - uws:       uWebSockets.js (from the npm package `uwebsockets`, an unofficial republish of
//              upstream's prebuilt binary: a benchmark peer on loopback only, never a dependency
//              of wschat), every client subscribed to one topic and `app.publish` to it.
//
// Like benchmarks/peers.py, each does what the benchmark needs and nothing more (no login, no
// storage, no ordering or delivery guarantee): a client names itself with `?name=NAME` in the
// URL (the Socket.IO query string), a text frame `@NAME text` (the `private` event for
// Socket.IO) goes to that client only, and any other text frame goes to every client. Every
// server keeps its library's defaults otherwise.
'use strict';

const http = require('http');

function parseArgs(argv) {
  const args = { kind: argv[0], host: '127.0.0.1', port: 0 };
  for (let i = 1; i < argv.length; i += 2) {
    if (argv[i] === '--host') args.host = argv[i + 1];
    else if (argv[i] === '--port') args.port = Number(argv[i + 1]);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return args;
}

function nameOf(url) {
  const query = url.indexOf('?') >= 0 ? url.slice(url.indexOf('?') + 1) : '';
  return new URLSearchParams(query).get('name') || '';
}

function listening(port) {
  process.stdout.write(`listening on ${port}\n`);
}

// A private message `@NAME text` -> [NAME, text]; anything else -> null.
function privateOf(text) {
  if (!text.startsWith('@')) return null;
  const space = text.indexOf(' ');
  return space < 0 ? [text.slice(1), ''] : [text.slice(1, space), text.slice(space + 1)];
}

function serveWs({ host, port }) {
  const { WebSocketServer, WebSocket } = require('ws');
  const wss = new WebSocketServer({ host, port });
  const names = new Map();
  wss.on('connection', (ws, req) => {
    const name = nameOf(req.url);
    if (name) names.set(name, ws);
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? null : data.toString();
      const priv = text === null ? null : privateOf(text);
      if (priv !== null) {
        const target = names.get(priv[0]);
        if (target !== undefined && target.readyState === WebSocket.OPEN) target.send(priv[1]);
        return;
      }
      // One frame for every client: header and payload built once, then one socket write per
      // client through its Sender (what ws.send ends in when no compression is negotiated; the
      // server does not offer permessage-deflate unless told to, and here it is not).
      const frame = Buffer.concat(WebSocket.Sender.frame(data, {
        fin: true, opcode: isBinary ? 2 : 1, mask: false, readOnly: true, rsv1: false,
      }));
      for (const client of wss.clients) {
        if (client.readyState === WebSocket.OPEN) client._sender.sendFrame([frame]);
      }
    });
    ws.on('close', () => {
      if (names.get(name) === ws) names.delete(name);
    });
  });
  wss.on('listening', () => listening(wss.address().port));
}

function serveSocketio({ host, port }) {
  const { Server } = require('socket.io');
  const server = http.createServer();
  const io = new Server(server, { transports: ['websocket'] });
  io.on('connection', (socket) => {
    const name = socket.handshake.query.name;
    if (typeof name === 'string' && name) socket.join(name);
    socket.on('message', (data) => io.emit('message', data));
    socket.on('private', (data) => io.to(data.to).emit('message', data.text));
  });
  server.listen(port, host, () => listening(server.address().port));
}

function serveUws({ host, port }) {
  const uWS = require('uwebsockets');
  const names = new Map();
  const decoder = new TextDecoder();
  const app = uWS.App().ws('/*', {
    compression: uWS.DISABLED,
    upgrade: (res, req, context) => {
      res.upgrade(
        { name: new URLSearchParams(req.getQuery() || '').get('name') || '' },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      ws.subscribe('all');
      const { name } = ws.getUserData();
      if (name) names.set(name, ws);
    },
    message: (ws, message, isBinary) => {
      // Only a private message needs decoding; "@" is 0x40.
      if (!isBinary && message.byteLength > 0 && new Uint8Array(message)[0] === 0x40) {
        const priv = privateOf(decoder.decode(message));
        const target = names.get(priv[0]);
        if (target !== undefined) target.send(priv[1], false);
        return;
      }
      app.publish('all', message, isBinary);
    },
    close: (ws) => {
      const { name } = ws.getUserData();
      if (name && names.get(name) === ws) names.delete(name);
    },
  });
  app.listen(host, port, (token) => {
    if (!token) {
      process.stderr.write(`uws: could not listen on ${host}:${port}\n`);
      process.exit(1);
    }
    listening(uWS.us_socket_local_port(token));
  });
}

const SERVERS = { ws: serveWs, socketio: serveSocketio, uws: serveUws };

function main() {
  const args = parseArgs(process.argv.slice(2));
  const serve = SERVERS[args.kind];
  if (serve === undefined) {
    process.stderr.write(`usage: node peers.js {${Object.keys(SERVERS).join('|')}} [--host H] [--port P]\n`);
    process.exit(2);
  }
  process.on('SIGTERM', () => process.exit(0));
  serve(args);
}

main();
