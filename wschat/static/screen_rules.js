// The browser client's screen rules: the read position, the unread badge and the typing
// line, with no DOM and no socket: app.js draws them and ChatConnection sends the frames.
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
