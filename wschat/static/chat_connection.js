// The socket pump of the browser client: ChatConnection, one WebSocket at a time, the timers
// (login timeout, backoff) and the page's handlers around a ClientMachine
// (client_machine.js), which makes every decision. Every frame in or out and every socket
// event passes through one place, reported to handlers.trace (for a protocol inspector).
// No DOM here: app.js draws what it reports.

import { ClientMachine } from "./client_machine.js";
import { Phase, backoffDelay } from "./chat_wire.js";

/** A connection that is not logged in after this long is dropped and tried again. */
const OPEN_TIMEOUT_MS = 10000;

/**
 * A logged-in chat connection that survives dropped connections: the WebSocket, the timers
 * and the page's handlers around a ClientMachine.
 *
 * options: url, user, password or token, epoch and lastId (to resume), outbox (a list of
 * {ref, frame} from an earlier page load), delivered (ids of the messages that earlier page
 * load showed, needed only with an outbox), backoff [first, cap] in seconds, and handlers:
 *   status(state, detail)      "connecting" | "syncing" | "online" | "reconnecting" | "offline"
 *   welcome(welcome, info)     info.firstLogin: true for the first welcome of this object
 *   message(msg, info)         info.backlog: part of the replay or history after a login;
 *                              info.answers: the outbox entry it acknowledges, or null;
 *                              info.repeat: true when it is that entry's acknowledgment and
 *                              its id was already reported (do not show it a second time)
 *   presence(user, online)     users(online, info)   history(frame)   help(text)
 *   error(code, detail, item)  item: the outbox entry the error answers, or null
 *   read(id)                   the user's read position moved (any of their sessions)
 *   typing(user, to)           someone else is typing: to everyone (to null) or to this user
 *   outbox(items)              the sends not yet answered, in order
 *   loginFailed(code, detail)  the connection is over; ask for the password again
 *   stopped(code, reason)      closed with a code after which it does not reconnect
 *   changed()                  something worth saving (lastId, epoch, token, outbox)
 *   trace(direction, frame, info)  optional: every frame and socket event, in order:
 *                              "out" (frame, {why}), "in" (frame, {meant}), "open" ({url}),
 *                              "close" ({code, reason}), "error" ({detail}), "timeout" ({}),
 *                              "wait" ({attempt, delay}: seconds before the next attempt)
 * Tests may also pass WebSocket (a constructor), newRef(kind) and random().
 */
export class ChatConnection {
  constructor(options) {
    this.url = options.url;
    this.backoff = options.backoff ?? [0.25, 5];
    this.on = options.handlers;
    this.Socket = options.WebSocket ?? globalThis.WebSocket;
    this.random = options.random ?? Math.random;
    this.machine = new ClientMachine({
      user: options.user, password: options.password, token: options.token,
      epoch: options.epoch, lastId: options.lastId, outbox: options.outbox,
      delivered: options.delivered, newRef: options.newRef,
    });
    this.ws = null;
    this.stopped = false;
    this.retryTimer = null;
    this.historyRef = null;
    this.lastClose = { code: null, reason: "" };
    this.told = this.snapshot(); // the machine as the handlers last heard of it
    this.applying = false;
    this.again = false;
  }

  get user() { return this.machine.user; }
  get token() { return this.machine.token; }
  get epoch() { return this.machine.epoch; }
  get lastId() { return this.machine.lastId; }
  /** Logged in and caught up: sends go out at once. */
  get ready() { return this.machine.ready; }
  /** Logged in at least once. */
  get welcomed() { return this.machine.welcome !== null; }

  /** Open the first connection (or, after a stop, a new one). */
  start() {
    this.stopped = false;
    this.connect();
  }

  /** The sends not yet answered, oldest first: [{ref, frame}]. */
  pending() {
    return this.machine.outbox.pending();
  }

  /**
   * Send a chat line (public, /msg, /who, /help); return its ref. It waits in the outbox
   * until its answer comes back, across reconnects. Throws RangeError for a frame over 64 KiB.
   */
  send(text) {
    const ref = this.machine.send(text);
    this.apply();
    return ref;
  }

  /** Ask for older messages; false when not connected (a page of another epoch means nothing). */
  history(before, limit = 50) {
    if (!this.ready || this.historyRef !== null) return false;
    this.historyRef = this.machine.request({ type: "history", before, limit });
    this.apply();
    return true;
  }

  /**
   * Tell the server the user has read up to message `id` (one this tab received). False when
   * not connected: the page sends it again once back online.
   */
  read(id) {
    if (!this.ready) return false;
    this.machine.markRead(id);
    this.apply();
    return true;
  }

  /** Say the user is typing, to everyone or `to` one user; false (and nothing) when offline. */
  typing(to = null) {
    const sent = this.machine.typing(to);
    this.apply();
    return sent;
  }

  /**
   * Ask the server to cut this connection as a network failure would (PROTOCOL.md v4 `drop`):
   * no close frame, so the socket closes with 1006 and the tab reconnects and resumes as after
   * any drop. Never in the outbox. False (and nothing) when not connected.
   */
  drop() {
    if (!this.ready) return false;
    this.machine.drop();
    this.apply();
    return true;
  }

  /** Log out: the server revokes the token and closes with 1000; no reconnect. */
  logout() {
    const ws = this.ws;
    const sent = this.machine.logout();
    this.machine.password = null;
    this.halt();
    for (const { frame, why } of this.machine.framesToSend()) this.write(ws, frame, why);
    if (!sent && ws !== null) ws.close(1000);
  }

  /** Try again now instead of waiting for the backoff (e.g. the network came back). */
  retryNow() {
    if (this.stopped || this.retryTimer === null) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  // ------------------------------------------------------------------ sockets

  halt() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.on.status("offline", "");
  }

  connect() {
    if (this.stopped) return;
    this.retryTimer = null;
    this.on.status(this.welcomed ? "reconnecting" : "connecting", "");
    let ws;
    try {
      ws = new this.Socket(this.url);
    } catch (error) { // e.g. a URL the browser refuses: same as a failed attempt
      this.trace("error", null, { detail: String(error) });
      this.machine.closed(1006, String(error));
      this.apply();
      return;
    }
    this.ws = ws;
    const timer = setTimeout(() => this.timedOut(ws), OPEN_TIMEOUT_MS);
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.trace("open", null, { url: this.url });
      const login = this.machine.connecting();
      if (login !== null) this.write(ws, login, "login");
      this.apply();
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws || this.stopped || typeof event.data !== "string") return;
      const meant = this.machine.receive(event.data);
      this.trace("in", event.data, { meant });
      this.apply();
    };
    ws.onerror = () => {
      if (this.ws === ws) this.trace("error", null, { detail: "" });
    };
    ws.onclose = (event) => {
      clearTimeout(timer);
      if (this.ws !== ws) return;
      this.ws = null;
      this.lastClose = { code: event.code, reason: event.reason };
      this.trace("close", null, { code: event.code, reason: event.reason });
      if (this.stopped) return;
      this.machine.closed(event.code, event.reason);
      this.apply();
    };
  }

  /** A socket that got no welcome in time: leave it and count a failed attempt. */
  timedOut(ws) {
    const phase = this.machine.phase;
    if (this.ws !== ws || phase === Phase.CATCHING_UP || phase === Phase.READY) return;
    this.ws = null;
    ws.close();
    this.trace("timeout", null, {});
    if (this.stopped) return;
    this.machine.closed(1006, "no welcome in time");
    this.apply();
  }

  write(ws, frame, why) {
    if (ws === null) return;
    this.trace("out", frame, { why });
    ws.send(frame); // on a closing socket this is dropped; the outbox resends it next time
  }

  trace(direction, frame, info) {
    if (this.on.trace !== undefined) this.on.trace(direction, frame, info);
  }

  // ------------------------------------------------------------------ telling the page

  snapshot() {
    const m = this.machine;
    return {
      phase: m.phase, retry: m.retry, welcome: m.welcome, dropRefused: m.dropRefused,
      saved: JSON.stringify([m.lastId, m.epoch, m.token, m.outbox.refs()]),
      outbox: m.outbox.refs().join("\n"),
    };
  }

  /** The one place where what the machine did reaches the socket and the page. */
  apply() {
    if (this.applying) { // a handler called a verb: finish this round first
      this.again = true;
      return;
    }
    this.applying = true;
    try {
      do {
        this.again = false;
        this.step();
      } while (this.again);
    } finally {
      this.applying = false;
    }
  }

  step() {
    const m = this.machine;
    for (const { frame, why } of m.framesToSend()) this.write(this.ws, frame, why);
    if (this.stopped) return;
    const before = this.told;
    const now = this.snapshot();
    this.told = now;
    if (now.welcome !== before.welcome) {
      this.historyRef = null; // a page asked on the old connection will not come
      this.on.welcome(now.welcome, { firstLogin: before.welcome === null });
    }
    for (const event of m.eventsReceived()) this.dispatch(event);
    if (now.dropRefused !== null && now.dropRefused !== before.dropRefused) {
      this.on.error(now.dropRefused.code, now.dropRefused.detail, null);
    }
    if (now.phase !== before.phase && now.phase === Phase.CATCHING_UP) this.on.status("syncing", "");
    if (now.phase !== before.phase && now.phase === Phase.READY) this.on.status("online", "");
    if (now.outbox !== before.outbox || (now.phase !== before.phase && now.phase === Phase.READY)) {
      this.on.outbox(this.pending());
    }
    if (now.saved !== before.saved) this.on.changed();
    if (now.phase === Phase.WAITING && now.retry !== before.retry) this.scheduleRetry(now.retry);
    if (now.phase === Phase.FINISHED && before.phase !== Phase.FINISHED) this.finished(m.error);
  }

  dispatch(event) {
    const { frame } = event;
    switch (event.kind) {
      case "message":
      case "confirmed":
        this.on.message(frame, {
          backlog: event.backlog, answers: event.answers, repeat: event.kind === "confirmed",
        });
        break;
      case "online":
        this.on.users(event.online, { asked: false });
        break;
      case "presence":
        this.on.presence(frame.user, frame.online);
        break;
      case "users":
        this.on.users(frame.online, { asked: event.answers !== null });
        break;
      case "history":
        if (frame.ref === this.historyRef) this.historyRef = null;
        this.on.history(frame);
        break;
      case "help":
        this.on.help(frame.text);
        break;
      case "read":
        this.on.read(frame.id);
        break;
      case "typing":
        this.on.typing(frame.user, frame.to ?? null);
        break;
      case "error":
        if (frame.ref !== undefined && frame.ref === this.historyRef) this.historyRef = null;
        this.on.error(frame.code, frame.detail, event.answers);
        break;
      default: // reconnected, disconnected: the status and welcome handlers tell them
    }
  }

  scheduleRetry(retry) {
    clearTimeout(this.retryTimer);
    if (retry.atOnce) { // the password after a refused token: no wait
      this.retryTimer = setTimeout(() => this.connect(), 0);
      return;
    }
    const [first, cap] = this.backoff;
    const delay = backoffDelay(retry.attempt, first, cap, this.random);
    this.on.status("reconnecting", `nova tentativa em ${Math.ceil(delay)} s`);
    this.trace("wait", null, { attempt: retry.attempt, delay });
    this.retryTimer = setTimeout(() => this.connect(), delay * 1000);
  }

  finished(error) {
    const ws = this.ws;
    this.ws = null;
    if (ws !== null) ws.close(1000); // a server that did not answer the login as wschat does
    this.halt();
    if (error === null) {
      this.on.stopped(this.lastClose.code ?? 1000, this.lastClose.reason);
    } else if (error.kind === "lost") {
      this.on.stopped(error.code, error.reason);
    } else if (error.kind === "login" && error.code === "auth_failed" && this.machine.loginKind === "token") {
      this.on.loginFailed("session_expired", "sua sessão expirou; entre de novo");
    } else if (error.kind === "login") {
      this.on.loginFailed(error.code, error.detail);
    } else {
      this.on.loginFailed("unexpected_answer", "o servidor não respondeu ao login como um servidor wschat");
    }
  }
}
