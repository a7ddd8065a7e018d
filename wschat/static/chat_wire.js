// The wire pieces of the browser client: the protocol's constants (close codes, the largest
// frame, the client's phases), the socket URL, the backoff delay, the refs a tab chooses, and
// the checks of a server frame (parseEvent, isMessage) and of the id order (isLater). No
// state, no DOM, no socket: client_machine.js and chat_connection.js build on these.

export const RECONNECT_CODES = new Set([1001, 1006, 1011, 1012, 1013, 4008]);
/** Close codes that say "this server is leaving": the next attempt goes elsewhere at once. */
export const LEAVING_CODES = new Set([1001, 1012]);
export const CLOSE_LOGIN = 4001;
/** Largest frame the server takes; a bigger one would close the connection (1009). */
export const MAX_FRAME = 64 * 1024;

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

/** The refs a tab chooses, by kind ("send", "request", "sync", "drop"): ClientMachine's default. */
export function randomRefs(kind) {
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
