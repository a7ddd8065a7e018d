// The wschat protocol in the browser. No DOM here: app.js draws what this module reports.
//
// Two layers, as in wschat/client (Python):
//
// - ClientMachine is the client's state machine without I/O, the port of
//   wschat/client/protocol.py's ClientProtocol: events in (a connection opened, a text frame,
//   a close, the user's verbs), frames and events out, and what to do next (reconnect after
//   which attempt, or stop with which error). tests/client/client_vectors.json holds both to
//   one behaviour: the Python tests and the browser tests replay the same vectors.
// - ChatConnection is the pump: one WebSocket at a time, the timers (login timeout, backoff),
//   and the page's handlers. Every frame in or out and every socket event passes through
//   one place, reported to handlers.trace (for a protocol inspector).
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

export const RECONNECT_CODES = new Set([1001, 1006, 1011, 1012, 1013, 4008]);
/** Close codes that say "this server is leaving": the next attempt goes elsewhere at once. */
export const LEAVING_CODES = new Set([1001, 1012]);
export const CLOSE_LOGIN = 4001;
/** Largest frame the server takes; a bigger one would close the connection (1009). */
export const MAX_FRAME = 64 * 1024;
/** A connection that is not logged in after this long is dropped and tried again. */
const OPEN_TIMEOUT_MS = 10000;

/** Where the client stands (ClientProtocol's Phase). */
export const Phase = Object.freeze({
  CLOSED: "closed", // no connection yet
  OPENING: "opening", // the login was written; no welcome yet
  CATCHING_UP: "catching_up", // logged in; the backlog (history or replay) is arriving
  READY: "ready", // the backlog is over: sends go out as they are made
  WAITING: "waiting", // the connection is gone; open another as machine.retry says
  FINISHED: "finished", // no more connections: machine.error says why
});

/** The WebSocket endpoint of the server that served this page. */
export function socketUrl(location) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws`;
}

/** Full jitter: the n-th retry waits a random time in [0, min(cap, first * 2**n)] seconds. */
export function backoffDelay(attempt, first, cap, random = Math.random) {
  return random() * Math.min(cap, first * 2 ** Math.min(attempt, 32));
}

function randomHex(bytes) {
  const values = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(values, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A ref no other tab or page load will choose (the server remembers refs per user). */
export function newRef() {
  return `w-${randomHex(8)}`;
}

/** The refs a tab chooses, by kind ("send", "request", "sync", "drop"). */
function randomRefs(kind) {
  return kind === "sync" ? `sync-${randomHex(4)}` : newRef();
}

// -------------------------------------------------------------------- server frames

class Malformed extends Error {}

function field(obj, key, ok) {
  if (!ok(obj[key])) throw new Malformed(key);
  return obj[key];
}
const isString = (v) => typeof v === "string";
const isOptString = (v) => v === undefined || v === null || typeof v === "string";
const isNames = (v) => Array.isArray(v) && v.every(isString);

function checkMessage(obj) {
  field(obj, "id", isString);
  field(obj, "from", isString);
  field(obj, "to", isOptString);
  field(obj, "text", isString);
  field(obj, "ts", (v) => typeof v === "number");
}

/** True for a `message` frame with the fields of the protocol. */
export function isMessage(obj) {
  try {
    checkMessage(obj);
    return true;
  } catch {
    return false;
  }
}

/**
 * One server frame, checked as wschat/client/events.py's parse_event checks it: the frame
 * object when its fields have the protocol's types, or null for a frame this client does not
 * know (malformed, or of an unknown type: skipped, never fatal).
 */
export function parseEvent(raw) {
  let obj;
  try {
    obj = JSON.parse(raw);
  } catch {
    return null;
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return null;
  try {
    field(obj, "ref", isOptString);
    switch (obj.type) {
      case "message": checkMessage(obj); break;
      case "presence": field(obj, "user", isString); field(obj, "online", (v) => typeof v === "boolean"); break;
      case "read": field(obj, "id", isString); break;
      case "typing": field(obj, "user", isString); field(obj, "to", isOptString); break;
      case "users": field(obj, "online", isNames); break;
      case "history":
        field(obj, "messages", (v) => Array.isArray(v) && v.every((m) => m !== null && typeof m === "object"));
        obj.messages.forEach(checkMessage);
        field(obj, "more", (v) => typeof v === "boolean");
        break;
      case "help": field(obj, "text", isString); break;
      case "error": field(obj, "code", isString); field(obj, "detail", isString); break;
      case "welcome":
        for (const key of ["user", "session", "epoch", "token"]) field(obj, key, isString);
        field(obj, "last", isOptString);
        field(obj, "read", isOptString);
        field(obj, "recovered", (v) => typeof v === "boolean");
        field(obj, "online", isNames);
        if ("unread" in obj) field(obj, "unread", (v) => Number.isInteger(v) && v >= 0);
        break;
      default:
        return null;
    }
  } catch (error) {
    if (!(error instanceof Malformed)) throw error;
    console.warn("wschat: ignoring a malformed frame from the server", error.message, raw.slice(0, 200));
    return null;
  }
  return obj;
}

function logOrder(id) {
  const match = /^(\d+)(?:-(\d+))?$/.exec(id);
  return match === null ? null : [BigInt(match[1]), BigInt(match[2] ?? "0")];
}

/**
 * True when `id` comes after `than` in the log (or `than` is null); ids this client cannot
 * order (not of wschat's forms in ASCII digits: "42", "1700000000000-0") count as later: the
 * server judges. The same rule as wschat.core.model.is_later; the "id_order" cases of
 * tests/client/client_vectors.json hold both to it.
 */
export function isLater(id, than) {
  if (than === null) return true;
  const a = logOrder(id);
  const b = logOrder(than);
  if (a === null || b === null) return true;
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}

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

// -------------------------------------------------------------------- the pump

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

// -------------------------------------------------------------------- read position and typing
//
// The rules of the read position, the unread badge and the typing line, with no DOM and no
// socket: app.js draws them and ChatConnection sends the frames.
//
// Message ids are opaque strings (PROTOCOL.md): nothing here compares two ids. The order it
// needs comes from the tab's own message list, which holds messages in log order: a position
// is "after" another when it sits further down that list. `indexOf(id)` (given by the page)
// answers where an id sits, or -1 when the list does not hold it.

/** The server counts at most this many unread messages (welcome.unread); more shows as "10000+". */
export const UNREAD_CAP = 10000;
/** A typing frame is sent at most once per this many milliseconds while the user types. */
export const TYPING_EVERY_MS = 1000;
/** A typing line stays this long after the last typing frame of that user. */
export const TYPING_SHOW_MS = 4000;

/**
 * A position in the message list: "everything up to message `id`". `id` null means before
 * every message (nothing read). An id the list does not hold is either older than what the
 * list shows (it scrolled out of the history window) or newer (it has not arrived yet):
 * `awaiting` says which one to assume. It is true while the message may still arrive (right
 * after welcome, before the backlog is over; after a live `read` event, which another tab
 * sent for a message this tab may not have received yet), and false once it cannot.
 */
export class Position {
  constructor(id = null, awaiting = false) {
    this.id = id;
    this.awaiting = id !== null && awaiting;
  }

  /**
   * Where the position sits in the list: the index of its message, -1 when it is before every
   * message shown, Infinity while it waits for a message that has not arrived.
   */
  rank(indexOf) {
    if (this.id === null) return -1;
    const index = indexOf(this.id);
    if (index >= 0) return index;
    return this.awaiting ? Infinity : -1;
  }

  /** The backlog is over: a message not in the list by now is older than the list. */
  settle() {
    this.awaiting = false;
  }
}

/**
 * The id to send in a `read` frame, or null for none: the newest message shown, only when it
 * is after the known position (never an older or equal id) and not already sent by this tab.
 */
export function readToSend(newestId, position, lastSent, indexOf) {
  if (newestId === null || newestId === lastSent) return null;
  return indexOf(newestId) > position.rank(indexOf) ? newestId : null;
}

/** How many of `messages` (oldest first) are after `rank` and not the user's own, capped. */
export function countUnread(messages, rank, isMine) {
  let count = 0;
  for (let i = Math.max(0, rank + 1); i < messages.length && count < UNREAD_CAP; i += 1) {
    if (!isMine(messages[i])) count += 1;
  }
  return count;
}

/** The tab's title with the unread badge: "(3) wschat", "(10000+) wschat", or just "wschat". */
export function badgeTitle(base, unread) {
  if (!(unread > 0)) return base;
  return unread >= UNREAD_CAP ? `(${UNREAD_CAP}+) ${base}` : `(${unread}) ${base}`;
}

/**
 * Whom a line being typed would go to: {to: null} (public), {to: NAME} for `/msg NAME text`,
 * or null when nothing should be said (an empty line, another command, `/msg` to a name that
 * is not online: a typing frame to someone offline tells nobody anything, and one to a name
 * never registered would be answered with an error).
 */
export function typingTarget(line, isOnline) {
  if (line.trim() === "") return null;
  if (!line.startsWith("/")) return { to: null };
  const direct = /^\/msg\s+(\S+)\s+\S/i.exec(line);
  if (direct === null || !isOnline(direct[1])) return null;
  return { to: direct[1] };
}

/**
 * Client-side bound on typing frames: `due(now)` is true at most once per TYPING_EVERY_MS
 * (the server passes on at most one per second anyway; sending more only wastes frames).
 */
export class TypingThrottle {
  constructor(every = TYPING_EVERY_MS) {
    this.every = every;
    this.last = -Infinity;
  }

  due(now) {
    if (now - this.last < this.every) return false;
    this.last = now;
    return true;
  }
}

/**
 * Who is typing, each until TYPING_SHOW_MS after their last typing frame. Keys are lower-case
 * names (names compare case-insensitively); `private` tells a typing meant for this user alone.
 */
export class Typers {
  constructor(showMs = TYPING_SHOW_MS) {
    this.showMs = showMs;
    this.byName = new Map();
  }

  /** Someone typed; returns when their line should go, unless they type again. */
  saw(user, isPrivate, now) {
    const until = now + this.showMs;
    this.byName.set(user.toLowerCase(), { user, private: isPrivate, until });
    return until;
  }

  /** They stopped: their message arrived, or they went offline. */
  forget(user) {
    return this.byName.delete(user.toLowerCase());
  }

  /** Forget everyone whose time is over; the ones still typing, in arrival order. */
  current(now) {
    for (const [key, typer] of this.byName) {
      if (typer.until <= now) this.byName.delete(key);
    }
    return Array.from(this.byName.values());
  }

  /** The earliest time at which a line goes away, or null when nobody is typing. */
  nextExpiry() {
    let next = null;
    for (const typer of this.byName.values()) {
      if (next === null || typer.until < next) next = typer.until;
    }
    return next;
  }

  clear() {
    this.byName.clear();
  }
}

/** The typing line in Brazilian Portuguese, "" when nobody types. */
export function typingText(typers) {
  if (typers.length === 0) return "";
  if (typers.length === 1) {
    const [one] = typers;
    return one.private
      ? `${one.user} está digitando uma mensagem privada…`
      : `${one.user} está digitando…`;
  }
  if (typers.length === 2) return `${typers[0].user} e ${typers[1].user} estão digitando…`;
  return "várias pessoas estão digitando…";
}
