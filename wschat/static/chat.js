// The wschat protocol in the browser: login, resume, outbox and reconnection. No DOM here;
// app.js draws what this module reports. It follows wschat/client/chat.py, the Python client:
//
// - Login uses the token once one is known (a reconnect never costs the server a slow
//   password hash); if the token is refused and the password is still in memory, the
//   password is tried once. The password is never stored.
// - After close codes 1001, 1006, 1011, 1012, 1013, 4008 (and failed attempts) it reconnects
//   with exponential backoff and full jitter, resuming with {epoch, after: lastId}. Never after
//   1000 (logout) or 4001 (login refused).
// - No gap and no duplicate is the SERVER's guarantee. This module does not filter repeated
//   ids (that would hide server bugs); it only keeps lastId, the newest id it received. The
//   one exception is the acknowledgment of a resend, below.
// - Every send carries a ref and waits in the outbox until a frame with that ref comes back
//   (the message itself, or an error). A ref comes back only to the session that sent it
//   (PROTOCOL.md): a replay or history never carries one, so it cannot tell which sends the
//   server took. After a reconnect the backlog arrives first; then EVERY unanswered send is
//   resent with its same ref. The server answers each: a ref it already accepted is not
//   stored again and the original message comes back with that ref; any other is stored and
//   published now. So each send is published exactly once.
// - When the server took a send but the connection dropped before its answer, the message
//   arrives twice: in the replay (no ref) and as the answer to the resend (with the ref). That
//   answer is the contract's acknowledgment of the resend, not a second message: it is
//   reported with info.repeat = true (the page marks the message it already shows as
//   confirmed instead of appending it) and does not move lastId. This applies only to a
//   message carrying one of this tab's pending refs whose id was delivered since that send
//   was queued; every other repeated id is reported as a new message, so a server bug shows.
//   To know "delivered since the send was queued" this module keeps the ids delivered while
//   some send waits (after a reload: the ids the page restored, given as options.delivered),
//   and forgets each once no waiting send is older than it; nothing while the outbox is empty.
// - The backlog is over at the message whose id is welcome.last, or at the first frame that
//   is not a message: right after welcome this module asks `who` with a ref of its own, and
//   the server answers it only after the backlog.
// - `read` and `typing` (v3) are sent only while connected and caught up, never queued: a read
//   position is sent again from the page's state after a reconnect, and a typing frame is
//   worth nothing a second later. Neither carries a ref (the contract gives them none).

export const RECONNECT_CODES = new Set([1001, 1006, 1011, 1012, 1013, 4008]);
export const CLOSE_LOGIN = 4001;
/** Largest frame the server takes; a bigger one would close the connection (1009). */
export const MAX_FRAME = 64 * 1024;
/** A connection that is not logged in after this long is dropped and tried again. */
const OPEN_TIMEOUT_MS = 10000;

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

/** True for a `message` frame with the fields of the protocol. */
export function isMessage(obj) {
  return typeof obj.id === "string" && typeof obj.from === "string"
    && (obj.to === null || typeof obj.to === "string") && typeof obj.text === "string"
    && typeof obj.ts === "number";
}

/**
 * A logged-in chat connection that survives dropped connections.
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
 */
export class ChatConnection {
  constructor(options) {
    this.url = options.url;
    this.user = options.user;
    this.password = options.password ?? null;
    this.token = options.token ?? null;
    this.epoch = options.epoch ?? null;
    this.lastId = options.lastId ?? null;
    this.backoff = options.backoff ?? [0.25, 5];
    this.on = options.handlers;
    this.outbox = new Map();
    // Messages reported so far, and the ids of those reported while some send waited:
    // id -> count at its latest report, plus [count, id] in report order, for pruning.
    this.reported = 0;
    this.recent = new Map();
    this.recentOrder = [];
    for (const item of options.outbox ?? []) {
      this.outbox.set(item.ref, { ref: item.ref, frame: item.frame, gen: -1, since: 0 });
    }
    if (this.outbox.size > 0) {
      for (const id of options.delivered ?? []) this.remember(id);
    }
    this.ws = null;
    this.gen = 0; // increases with every connection, so a frame is written once on each
    this.ready = false; // logged in and backlog over: the outbox may be written
    this.loggedIn = false;
    this.welcomed = false;
    this.stopped = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.loginError = null;
    this.usedToken = false;
    this.resumedFrom = null;
    this.backlogOpen = false;
    this.backlogLast = null;
    this.seenInBacklog = false;
    this.barrier = null;
    this.historyRef = null;
  }

  /** Open the first connection. */
  start() {
    this.stopped = false;
    this.connect();
  }

  /** The sends not yet answered, oldest first: [{ref, frame}]. */
  pending() {
    return Array.from(this.outbox.values(), ({ ref, frame }) => ({ ref, frame }));
  }

  /**
   * Send a chat line (public, /msg, /who, /help); return its ref. It waits in the outbox
   * until its answer comes back, across reconnects. Throws RangeError for a frame over 64 KiB.
   */
  send(text) {
    const ref = newRef();
    const frame = JSON.stringify({ type: "send", text, ref });
    if (new TextEncoder().encode(frame).length > MAX_FRAME) {
      throw new RangeError("mensagem longa demais");
    }
    const item = { ref, frame, gen: -1, since: this.reported };
    this.outbox.set(ref, item);
    if (this.ready) {
      item.gen = this.gen;
      this.ws.send(frame);
    }
    this.on.outbox(this.pending());
    this.on.changed();
    return ref;
  }

  /** Ask for older messages; false when not connected (a page of another epoch means nothing). */
  history(before, limit = 50) {
    if (!this.ready || this.historyRef !== null) return false;
    this.historyRef = newRef();
    this.ws.send(JSON.stringify({ type: "history", before, limit, ref: this.historyRef }));
    return true;
  }

  /**
   * Tell the server the user has read up to message `id` (one this tab received). False when
   * not connected: the page sends it again once back online.
   */
  read(id) {
    if (!this.ready) return false;
    this.ws.send(JSON.stringify({ type: "read", id }));
    return true;
  }

  /** Say the user is typing, to everyone or `to` one user; false (and nothing) when offline. */
  typing(to = null) {
    if (!this.ready) return false;
    this.ws.send(JSON.stringify(to === null ? { type: "typing" } : { type: "typing", to }));
    return true;
  }

  /**
   * Ask the server to cut this connection as a network failure would (PROTOCOL.md v4 `drop`):
   * no close frame, so the socket closes with 1006 and the tab reconnects and resumes as after
   * any drop. Never in the outbox: nothing answers it but the lost connection, so a resend
   * would cut every new connection too. False (and nothing) when not connected.
   */
  drop() {
    if (!this.ready) return false;
    this.ws.send(JSON.stringify({ type: "drop" }));
    return true;
  }

  /** Log out: the server revokes the token and closes with 1000; no reconnect. */
  logout() {
    const ws = this.ws;
    this.halt();
    if (ws !== null && ws.readyState === WebSocket.OPEN && this.loggedIn) {
      ws.send(JSON.stringify({ type: "logout" }));
    } else if (ws !== null) {
      ws.close(1000);
    }
    this.token = null;
    this.password = null;
  }

  /** Try again now instead of waiting for the backoff (e.g. the network came back). */
  retryNow() {
    if (this.stopped || this.retryTimer === null) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  // -------------------------------------------------------------------- connecting

  halt() {
    this.stopped = true;
    this.ready = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.on.status("offline", "");
  }

  connect() {
    if (this.stopped) return;
    this.retryTimer = null;
    this.on.status(this.welcomed ? "reconnecting" : "connecting", "");
    this.gen += 1;
    this.ready = false;
    this.loggedIn = false;
    this.loginError = null;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (error) { // e.g. a URL the browser refuses: same as a failed attempt
      console.warn("wschat: cannot open", this.url, error);
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    const timer = setTimeout(() => {
      if (this.ws !== ws || this.loggedIn) return;
      this.ws = null; // a stuck attempt: leave it and try again
      ws.close();
      this.scheduleRetry();
    }, OPEN_TIMEOUT_MS);
    ws.onopen = () => {
      if (this.ws === ws) this.sendLogin(ws);
    };
    ws.onmessage = (event) => {
      if (this.ws === ws && typeof event.data === "string") this.onFrame(ws, event.data);
    };
    ws.onclose = (event) => {
      clearTimeout(timer);
      if (this.ws === ws) this.onClose(event.code, event.reason);
    };
  }

  sendLogin(ws) {
    const login = { type: "login", user: this.user };
    this.usedToken = this.token !== null;
    if (this.usedToken) login.token = this.token;
    else login.password = this.password ?? "";
    this.resumedFrom = null;
    if (this.epoch !== null && this.lastId !== null) {
      login.resume = { epoch: this.epoch, after: this.lastId };
      this.resumedFrom = this.lastId;
    }
    ws.send(JSON.stringify(login));
  }

  scheduleRetry() {
    if (this.stopped) return;
    const [first, cap] = this.backoff;
    const delay = backoffDelay(this.attempt, first, cap);
    this.attempt += 1;
    this.on.status("reconnecting", `nova tentativa em ${Math.ceil(delay)} s`);
    this.retryTimer = setTimeout(() => this.connect(), delay * 1000);
  }

  onClose(code, reason) {
    const wasLoggedIn = this.loggedIn;
    this.ws = null;
    this.ready = false;
    this.loggedIn = false;
    if (this.stopped) return;
    if (!wasLoggedIn && (this.loginError !== null || code === CLOSE_LOGIN)) {
      const error = this.loginError ?? { code: "login_required", detail: reason };
      this.loginError = null;
      if (error.code === "auth_failed" && this.usedToken) {
        this.token = null; // expired, revoked, or the server lost its accounts
        this.on.changed();
        if (this.password !== null) {
          this.connect();
          return;
        }
        this.halt();
        this.on.loginFailed("session_expired", "sua sessão expirou; entre de novo");
        return;
      }
      this.halt();
      this.on.loginFailed(error.code, error.detail);
      return;
    }
    if (!RECONNECT_CODES.has(code)) {
      this.halt();
      this.on.stopped(code, reason);
      return;
    }
    this.scheduleRetry();
  }

  // -------------------------------------------------------------------- receiving

  onFrame(ws, raw) {
    if (this.stopped) return;
    let obj;
    try {
      obj = JSON.parse(raw);
    } catch {
      console.warn("wschat: ignoring a frame that is not JSON", raw.slice(0, 200));
      return;
    }
    if (obj === null || typeof obj !== "object") return;
    if (!this.loggedIn) {
      if (obj.type === "welcome") this.onWelcome(ws, obj);
      else if (obj.type === "error") this.loginError = obj;
      return;
    }
    if (obj.type === "message") {
      if (!isMessage(obj)) {
        console.warn("wschat: ignoring a malformed message", obj);
        return;
      }
      const backlog = this.backlogOpen;
      const answers = typeof obj.ref === "string" ? this.outbox.get(obj.ref) ?? null : null;
      const repeat = answers !== null && (this.recent.get(obj.id) ?? -1) >= answers.since;
      if (!repeat) {
        this.lastId = obj.id; // the answer to a resend is an older message: not the newest
        if (this.outbox.size > 0) this.remember(obj.id);
        this.reported += 1;
      }
      this.acknowledge(obj.ref);
      this.on.message(obj, { backlog, answers, repeat });
      if (backlog) {
        this.seenInBacklog = true;
        if (obj.id === this.backlogLast) this.backlogOver(ws);
      }
      this.on.changed();
      return;
    }
    const ref = typeof obj.ref === "string" ? obj.ref : null;
    if (ref !== null && ref === this.barrier) {
      if (Array.isArray(obj.online)) this.on.users(obj.online, { asked: false });
    } else {
      this.dispatch(obj, ref);
    }
    // The backlog holds messages only: any other frame comes after it.
    if (this.backlogOpen) this.backlogOver(ws);
  }

  dispatch(obj, ref) {
    const item = ref !== null ? this.outbox.get(ref) ?? null : null;
    switch (obj.type) {
      case "presence":
        this.on.presence(obj.user, obj.online === true);
        break;
      case "users":
        this.on.users(Array.isArray(obj.online) ? obj.online : [], { asked: item !== null });
        break;
      case "history":
        if (ref === this.historyRef) this.historyRef = null;
        this.on.history(obj);
        break;
      case "help":
        this.on.help(String(obj.text ?? ""));
        break;
      case "read":
        if (typeof obj.id === "string") this.on.read(obj.id);
        break;
      case "typing":
        if (typeof obj.user === "string") {
          this.on.typing(obj.user, typeof obj.to === "string" ? obj.to : null);
        }
        break;
      case "error":
        if (ref !== null && ref === this.historyRef) this.historyRef = null;
        this.on.error(String(obj.code ?? "error"), String(obj.detail ?? ""), item);
        break;
      default:
        console.debug("wschat: ignoring a frame of unknown type", obj);
    }
    this.acknowledge(ref);
  }

  onWelcome(ws, welcome) {
    const firstLogin = !this.welcomed;
    const resumedFrom = welcome.epoch === this.epoch ? this.resumedFrom : null;
    this.loggedIn = true;
    this.welcomed = true;
    this.attempt = 0;
    this.token = welcome.token;
    this.epoch = welcome.epoch;
    if (!welcome.recovered) this.lastId = null; // history follows; an old position means nothing
    this.historyRef = null;
    this.on.welcome(welcome, { firstLogin });
    this.backlogLast = welcome.last;
    this.seenInBacklog = false;
    const noBacklog = welcome.last === null || (welcome.recovered && resumedFrom === welcome.last);
    this.on.changed();
    if (noBacklog) {
      this.backlogOpen = false;
      this.flush(ws);
      return;
    }
    this.on.status("syncing", "");
    this.backlogOpen = true;
    this.barrier = `sync-${randomHex(4)}`;
    ws.send(JSON.stringify({ type: "who", ref: this.barrier }));
  }

  backlogOver(ws) {
    this.backlogOpen = false;
    if (!this.seenInBacklog && this.backlogLast !== null) {
      // The server showed everything up to welcome.last it meant to show (e.g. no history
      // at all): resuming from there is exactly right.
      this.lastId = this.backlogLast;
      this.on.changed();
    }
    this.flush(ws);
  }

  /** Write, in order, what the outbox holds and this connection has not carried yet. */
  flush(ws) {
    if (this.ws !== ws) return;
    for (const item of this.outbox.values()) {
      if (item.gen !== this.gen) {
        item.gen = this.gen;
        ws.send(item.frame); // on a closed socket this is dropped, and resent next time
      }
    }
    this.ready = true;
    this.on.status("online", "");
    this.on.outbox(this.pending());
  }

  acknowledge(ref) {
    if (typeof ref === "string" && this.outbox.delete(ref)) {
      // Forget the ids reported before the oldest send still waiting was queued (all of
      // them when none waits): no answer can need them any more. A Map keeps insertion
      // order, so its first entry is the oldest send.
      const oldest = this.outbox.values().next().value;
      const floor = oldest !== undefined ? oldest.since : this.reported;
      let drop = 0;
      while (drop < this.recentOrder.length && this.recentOrder[drop][0] < floor) {
        const [count, id] = this.recentOrder[drop];
        if (this.recent.get(id) === count) this.recent.delete(id);
        drop += 1;
      }
      if (drop > 0) this.recentOrder.splice(0, drop);
      this.on.outbox(this.pending());
      this.on.changed();
    }
  }

  /** Record that the message `id` was reported now, while some send waits. */
  remember(id) {
    this.recent.set(id, this.reported);
    this.recentOrder.push([this.reported, id]);
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
