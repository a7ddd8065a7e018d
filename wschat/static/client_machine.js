// The browser client's state machine without I/O: ClientMachine, the port of
// wschat/client/protocol.py's ClientProtocol, and its Outbox (wschat/client/outbox.py).
// Events in (a connection opened, a text frame, a close, the user's verbs), frames and events
// out, and what to do next (reconnect after which attempt, or stop with which error).
// tests/client/client_vectors.json holds it and ClientProtocol to one behaviour: the Python
// tests and the browser tests replay the same vectors. chat_connection.js drives it over a
// WebSocket.
//
// What the machine decides (PROTOCOL.md and docs/decisions.md, "Refs", "The browser client"):
//
// - Login uses the token once one is known (a reconnect never costs the server a slow
//   password hash); if the token is refused and the password is still in memory, the
//   password is tried once. The password is never stored.
// - After close codes 1001, 1006, 1011, 1012, 1013, 4008 (and failed attempts) it reconnects
//   with exponential backoff and full jitter, resuming with {epoch, after: lastId}. Never after
//   1000 (logout) or 4001 (login refused).
// - No gap and no duplicate is the SERVER's guarantee. The machine does not filter repeated
//   ids (that would hide server bugs); it only keeps lastId, the newest id it received. The
//   one exception is the acknowledgment of a resend, below.
// - Every send carries a ref and waits in the outbox until a frame with that ref comes back
//   (the message itself, or an error). A ref comes back only to the session that sent it: a
//   replay or history never carries one, so it cannot tell which sends the server took. After
//   a reconnect the backlog arrives first; then EVERY unanswered send is resent with its same
//   ref, and the server answers each (the original if it had taken it). So each send is
//   published exactly once.
// - When the server took a send but the connection dropped before its answer, the message
//   arrives twice: in the replay (no ref) and as the answer to the resend (with the ref). That
//   answer is the acknowledgment of the resend, not a second message: it is reported as
//   "confirmed" (the page marks the message it already shows instead of adding it) and does
//   not move lastId. This applies only to a message carrying one of this tab's pending refs
//   whose id was delivered since that send was queued (the Outbox keeps what it needs: the
//   ids delivered while some send waits; after a reload, the ids the page restored); every
//   other repeated id is reported as a new message, so a server bug shows.
// - The backlog is over at the message whose id is welcome.last, or at the first frame that
//   is not a message: right after welcome the machine asks `who` with a ref of its own, and
//   the server answers it only after the backlog.
// - `read` and `typing` (v3) are not sends: no ref, no outbox. `drop` (v4) is never in the
//   outbox either: nothing answers it but the lost connection, so a resend would cut every new
//   connection too.

import {
  CLOSE_LOGIN, LEAVING_CODES, MAX_FRAME, Phase, RECONNECT_CODES, isLater, parseEvent, randomRefs,
} from "./chat_wire.js";

// -------------------------------------------------------------------- the outbox

/**
 * The sends waiting for their answer, oldest first ({ref, frame, gen, since}), and what it
 * takes to recognise the answer to a resend (wschat/client/outbox.py). `restored` are
 * {ref, frame} from an earlier page load, `delivered` the ids that page load showed.
 */
export class Outbox {
  constructor(restored = [], delivered = []) {
    // Generation 0 is no connection of this page load: a restored frame counts as written.
    this.items = new Map(restored.map(({ ref, frame }) => [ref, { ref, frame, gen: 0, since: 0 }]));
    this.count = 0; // messages delivered so far
    // id -> count at its latest delivery, plus [count, id] in delivery order (for pruning).
    this.recent = new Map();
    this.order = [];
    if (this.items.size > 0) for (const id of delivered) this.remember(id);
  }

  get size() {
    return this.items.size;
  }

  /** How many delivered ids are kept to recognise answers (0 whenever nothing waits). */
  get remembered() {
    return this.order.length;
  }

  refs() {
    return Array.from(this.items.keys());
  }

  /** The sends not yet answered, oldest first: [{ref, frame}]. */
  pending() {
    return Array.from(this.items.values(), ({ ref, frame }) => ({ ref, frame }));
  }

  add(ref, frame) {
    let item = this.items.get(ref);
    if (item === undefined) {
      item = { ref, frame, gen: -1, since: this.count };
      this.items.set(ref, item);
    }
    return item;
  }

  unsent(gen) {
    return Array.from(this.items.values()).filter((item) => item.gen !== gen);
  }

  /** True if this message answers a pending send and its id was delivered since it was queued. */
  isRepeat(id, ref) {
    const item = typeof ref === "string" ? this.items.get(ref) : undefined;
    if (item === undefined) return false;
    return (this.recent.get(id) ?? -1) >= item.since;
  }

  /** Count one message delivered, remembering its id while some send waits. */
  deliver(id) {
    if (this.items.size > 0) this.remember(id);
    this.count += 1;
  }

  /** Take the send `ref` answers off the outbox; the item, or null when none waits. */
  acknowledge(ref) {
    const item = typeof ref === "string" ? this.items.get(ref) ?? null : null;
    if (item === null) return null;
    this.items.delete(ref);
    // Forget the ids delivered before the oldest send still waiting was queued (all of them
    // when none waits, restored ones included): no answer can need them any more. A Map
    // keeps insertion order.
    const oldest = this.items.values().next().value;
    const floor = oldest !== undefined ? oldest.since : Infinity;
    let drop = 0;
    while (drop < this.order.length && this.order[drop][0] < floor) {
      const [count, id] = this.order[drop];
      if (this.recent.get(id) === count) this.recent.delete(id);
      drop += 1;
    }
    if (drop > 0) this.order.splice(0, drop);
    return item;
  }

  remember(id) {
    this.recent.set(id, this.count);
    this.order.push([this.count, id]);
  }
}

// -------------------------------------------------------------------- the machine

/** The frames (besides messages) that may answer a frame of the client, with its ref. */
const ANSWERS = new Set(["users", "history", "help", "error"]);

/**
 * The client's state machine without I/O (wschat/client/protocol.py's ClientProtocol).
 *
 * Feed it connecting() once a socket is open (write the login frame it returns first),
 * receive(raw) for each text frame, closed(code, reason) when the socket ends (1006 for one
 * that failed to open or got no welcome in time), and the user's verbs. After each call,
 * write framesToSend() ([{frame, why}]) in order, show eventsReceived(), and look at phase:
 * WAITING means open a new socket as `retry` ({attempt, nextUrl, atOnce}) says; FINISHED
 * means stop (`error`: {kind: "login", code, detail} | {kind: "lost", code, reason} |
 * {kind: "failed", detail}, or null after a logout or a close asked for).
 *
 * Events: {kind: "message" | "confirmed", frame, backlog, answers} (answers: the outbox item
 * the message acknowledges, or null), {kind: "online", online} (the barrier's answer),
 * {kind: "reconnected", welcome}, {kind: "disconnected", code, reason}, and
 * {kind: frame.type, frame, answers} for presence, read, typing, users, history, help, error.
 */
export class ClientMachine {
  constructor(options) {
    this.user = options.user;
    this.password = options.password ?? null;
    this.token = options.token ?? null;
    this.reconnect = options.reconnect ?? true;
    this.epoch = options.epoch ?? null;
    this.lastId = options.lastId ?? null;
    this.welcome = null;
    this.read = null; // the user's read position, from the server
    this.unread = 0;
    this.closeCode = null;
    this.phase = Phase.CLOSED;
    this.retry = null;
    this.error = null;
    this.outbox = new Outbox(options.outbox ?? [], options.delivered ?? []);
    this.dropRefused = null;
    this.loginKind = null; // of the latest login: "token" or "password"
    this.newRef = options.newRef ?? randomRefs;
    this.writes = [];
    this.events = [];
    this.gen = 0; // increases with every welcome, so a frame is written once on each
    this.attempts = 0; // reconnect attempts in this outage
    this.loginError = null;
    this.resumedFrom = null;
    this.backlogLast = null;
    this.seenInBacklog = false;
    this.barrier = null;
    this.wantRead = null; // a read position still to send
    this.dropping = null; // the ref of a drop waiting for its effect
    this.loggingOut = false;
  }

  /** The frames to write on the current socket, in order: [{frame, why}]. */
  framesToSend() {
    const writes = this.writes;
    this.writes = [];
    return writes;
  }

  /** What the user should see, in order. */
  eventsReceived() {
    const events = this.events;
    this.events = [];
    return events;
  }

  get ready() {
    return this.phase === Phase.READY;
  }

  // ------------------------------------------------------------------ the connection

  /** A socket is open: the login frame to write first, or null (then FINISHED) with none. */
  connecting() {
    if ([Phase.OPENING, Phase.CATCHING_UP, Phase.READY].includes(this.phase)) {
      throw new Error(`a connection is already in use (${this.phase})`);
    }
    this.error = null;
    this.loggingOut = false;
    this.loginError = null;
    let secret;
    if (this.token !== null) [this.loginKind, secret] = ["token", this.token];
    else if (this.password !== null) [this.loginKind, secret] = ["password", this.password];
    else {
      this.finish({ kind: "login", code: "auth_failed", detail: "no password and no valid token" });
      return null;
    }
    const login = { type: "login", user: this.user, [this.loginKind]: secret };
    this.resumedFrom = null;
    if (this.epoch !== null && this.lastId !== null) {
      login.resume = { epoch: this.epoch, after: this.lastId };
      this.resumedFrom = this.lastId;
    }
    this.phase = Phase.OPENING;
    this.retry = null;
    return JSON.stringify(login);
  }

  /** A text frame from the server; returns what it meant (see Meaning in effects.py). */
  receive(raw) {
    if (this.phase === Phase.OPENING) return this.loginAnswer(raw);
    if (this.phase !== Phase.CATCHING_UP && this.phase !== Phase.READY) return "ignored";
    const frame = parseEvent(raw);
    if (frame === null || frame.type === "welcome") return "ignored";
    if (frame.type === "message") return this.message(frame);
    return this.notice(frame);
  }

  /** The socket ended with `code` (1006: no close frame, or it never opened). */
  closed(code, reason = "") {
    this.closeCode = code;
    this.dropping = null;
    this.writes = [];
    if (this.phase === Phase.FINISHED) return;
    if ([Phase.CLOSED, Phase.OPENING, Phase.WAITING].includes(this.phase)) {
      this.attemptEnded(code, reason);
    } else if (this.loggingOut || code === 1000) {
      this.finish(null);
    } else if (!this.reconnect || !RECONNECT_CODES.has(code)) {
      this.finish({ kind: "lost", code, reason });
    } else {
      this.events.push({ kind: "disconnected", code, reason });
      this.attempts = 0;
      this.wait(LEAVING_CODES.has(code));
    }
  }

  // ------------------------------------------------------------------ the user's verbs

  /** A chat line, as submit(). Throws for "/cair" (call drop()): only a lost connection answers it. */
  send(text, { to = null, ref = null } = {}) {
    if (to === null && /^\/cair\s*$/iu.test(text)) {
      throw new TypeError("/cair cuts the connection and has no answer: call drop() instead");
    }
    return this.submit(to === null ? { type: "send", text } : { type: "send", text, to }, ref);
  }

  /**
   * Queue a frame that has an answer in the outbox with a ref; return the ref. Written now
   * when ready, else after the next backlog, and again after every reconnect until answered.
   * Throws RangeError for a frame over 64 KiB.
   */
  submit(obj, ref = null) {
    const chosen = ref ?? this.newRef("send");
    const frame = JSON.stringify({ ...obj, ref: chosen });
    if (new TextEncoder().encode(frame).length > MAX_FRAME) {
      throw new RangeError("mensagem longa demais");
    }
    const item = this.outbox.add(chosen, frame);
    if (this.ready && item.gen !== this.gen) {
      item.gen = this.gen;
      this.write(item.frame, "send");
    }
    return chosen;
  }

  /** Write a frame with a ref now, never resent (a history page); null when not ready. */
  request(obj, ref = null) {
    if (!this.ready) return null;
    const chosen = ref ?? this.newRef("request");
    this.write(JSON.stringify({ ...obj, ref: chosen }), "request");
    return chosen;
  }

  /** Read up to `id`: written now when ready, else (the latest asked) after the next backlog. */
  markRead(id) {
    this.wantRead = id;
    if (this.ready) this.writeRead();
  }

  /** The user is typing (to everyone, or `to`): written only when ready; true if so. */
  typing(to = null) {
    if (!this.ready) return false;
    this.write(JSON.stringify(to === null ? { type: "typing" } : { type: "typing", to }), "typing");
    return true;
  }

  /** Ask the server to cut this connection (v4 drop); its ref. Never in the outbox. */
  drop() {
    if (!this.ready) throw new Error("no open connection to drop");
    this.dropping = this.newRef("drop");
    this.dropRefused = null;
    this.write(JSON.stringify({ type: "drop", ref: this.dropping }), "drop");
    return this.dropping;
  }

  /** Forget the token; true when a logout frame was queued, else FINISHED at once. */
  logout() {
    this.token = null;
    if (this.phase === Phase.CATCHING_UP || this.phase === Phase.READY) {
      this.loggingOut = true;
      this.write(JSON.stringify({ type: "logout" }), "logout");
      return true;
    }
    if (this.phase !== Phase.FINISHED) this.finish(null);
    return false;
  }

  /** The user ends the client (`error`: why, when it is not their wish). */
  close(error = null) {
    if (this.phase !== Phase.FINISHED) this.finish(error);
  }

  // ------------------------------------------------------------------ inside

  write(frame, why) {
    this.writes.push({ frame, why });
  }

  writeRead() {
    if (this.wantRead !== null) {
      this.write(JSON.stringify({ type: "read", id: this.wantRead }), "read");
      this.wantRead = null;
    }
  }

  finish(error) {
    this.phase = Phase.FINISHED;
    this.retry = null;
    this.error = error;
    this.dropping = null;
    this.writes = [];
  }

  wait(nextUrl, atOnce = false) {
    this.phase = Phase.WAITING;
    this.retry = { attempt: this.attempts, nextUrl, atOnce };
    if (!atOnce) this.attempts += 1;
  }

  attemptEnded(code, reason) {
    const refused = this.loginError;
    this.loginError = null;
    if (refused !== null || code === CLOSE_LOGIN) this.refused(refused, reason);
    else this.wait(true); // a network failure, whatever the code: try again
  }

  refused(error, reason) {
    const code = error !== null ? error.code : "login_required";
    const detail = error !== null ? error.detail : reason;
    if (code === "auth_failed" && this.loginKind === "token") {
      this.token = null; // expired, revoked, or the server lost its accounts
      if (this.password !== null) {
        this.wait(false, true);
        return;
      }
    }
    this.finish({ kind: "login", code, detail });
  }

  loginAnswer(raw) {
    const answer = parseEvent(raw);
    if (answer !== null && answer.type === "welcome") {
      this.welcomed(answer);
      return "welcome";
    }
    if (answer !== null && answer.type === "error") {
      this.loginError = answer; // the close (4001) follows
      return "refused";
    }
    this.finish({ kind: "failed", detail: `unexpected answer to login: ${String(raw).slice(0, 200)}` });
    return "unexpected";
  }

  welcomed(welcome) {
    const first = this.welcome === null;
    const resumedFrom = welcome.epoch === this.epoch ? this.resumedFrom : null;
    this.welcome = welcome;
    this.token = welcome.token;
    this.epoch = welcome.epoch;
    this.read = welcome.read ?? null;
    this.unread = welcome.unread ?? 0;
    if (!welcome.recovered) this.lastId = null; // history follows; an old position means nothing
    this.gen += 1;
    this.attempts = 0;
    if (!first) this.events.push({ kind: "reconnected", welcome });
    this.backlogLast = welcome.last;
    this.seenInBacklog = false;
    if (welcome.last === null || (welcome.recovered && resumedFrom === welcome.last)) {
      this.backlogOver(); // nothing to catch up with
      return;
    }
    // The message with id welcome.last ends the backlog; when it is never sent (a server with
    // no history), the answer to this who does: it comes only after the backlog.
    this.phase = Phase.CATCHING_UP;
    this.barrier = this.newRef("sync");
    this.write(JSON.stringify({ type: "who", ref: this.barrier }), "barrier");
  }

  backlogOver() {
    if (!this.seenInBacklog && this.backlogLast !== null) {
      // The server showed everything up to welcome.last it meant to show (e.g. no history
      // at all): resuming from there is exactly right.
      this.lastId = this.backlogLast;
    }
    this.phase = Phase.READY;
    for (const item of this.outbox.unsent(this.gen)) {
      const why = item.gen < 0 ? "send" : "resend";
      item.gen = this.gen;
      this.write(item.frame, why);
    }
    this.writeRead();
  }

  message(frame) {
    const backlog = this.phase === Phase.CATCHING_UP;
    // The answer to a resend whose original the user already has (from a replay)
    // acknowledges the send: it is not a new message, nor the newest.
    const repeat = this.outbox.isRepeat(frame.id, frame.ref);
    if (!repeat) {
      this.lastId = frame.id;
      this.outbox.deliver(frame.id);
    }
    const answers = this.outbox.acknowledge(frame.ref);
    this.events.push({ kind: repeat ? "confirmed" : "message", frame, backlog, answers });
    if (backlog) {
      this.seenInBacklog = true;
      if (frame.id === this.backlogLast) this.backlogOver();
    }
    if (repeat) return "confirmed";
    return backlog ? "backlog" : "live";
  }

  notice(frame) {
    if (frame.type === "read" && isLater(frame.id, this.read)) this.read = frame.id;
    const ref = ANSWERS.has(frame.type) ? frame.ref ?? null : null;
    if (ref !== null && ref === this.dropping && frame.type === "error") {
      this.dropping = null;
      this.dropRefused = frame; // instead of the cut: not an event
      return "drop_refused";
    }
    const meaning = ref !== null && ref === this.barrier ? "barrier" : "event";
    if (meaning === "barrier" && frame.type === "users") {
      this.events.push({ kind: "online", online: frame.online });
    } else if (meaning === "event") {
      const answers = this.outbox.acknowledge(ref);
      this.events.push({ kind: frame.type, frame, answers });
    }
    // The backlog holds messages only: this comes after it.
    if (this.phase === Phase.CATCHING_UP) this.backlogOver();
    return meaning;
  }
}
