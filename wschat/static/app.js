// The page: login form, message list, online list, input line and connection state.
// The protocol lives in chat_connection.js and client_machine.js, the rules of the read
// position and the typing line in screen_rules.js; this module only draws what they report
// and keeps the tab's state in sessionStorage (per tab: another tab is another session, with
// its own login).
//
// User text is only ever put on the page with textContent, never parsed as HTML.
//
// Read position (v3): the "novas mensagens" divider sits above the first message from someone
// else after a position; while the user is away from the tab its title shows "(N) wschat",
// N messages from others unread. While the tab is visible and focused it tells the server
// (`read`) that the newest message shown is read: after login, on each new message, when the
// tab comes back. The server answers every session of the user with the new position:
// - in the other tabs the divider moves there (usually: it goes away) and the badge clears;
// - in the tab that read, the divider stays where it was, so the reader still sees where the
//   new messages began; it moves when the tab is left (to the position then, so that what
//   arrives while away comes below it) and when the user writes (they are caught up).
// Messages that arrive while the user watches a tab with no divider get none.
//
// The protocol panel ("Ver o protocolo", panel.js) draws what inspector.js makes of every frame
// and socket event of this tab; the page only records them (ProtocolLog.record, one slot per
// report) and opens or closes the panel. Messages that came in a replay (a resume with
// recovered: true) carry the label "reenviada".
//
// The tab's keys in sessionStorage end with the window's name when it has one: two frames of
// one page (notebook 03 shows the chat twice, side by side) share their top tab's storage, and
// each must keep its own login.

import { ChatConnection } from "./chat_connection.js";
import { isMessage, socketUrl } from "./chat_wire.js";
import {
  Position, TypingThrottle, Typers, badgeTitle, countUnread, readToSend, typingTarget, typingText,
} from "./screen_rules.js";
import { ProtocolLog, stateOf } from "./inspector.js";
import { Panel } from "./panel.js";

const TAB_SUFFIX = window.name ? `.${window.name}` : "";
const STORAGE_KEY = `wschat.tab${TAB_SUFFIX}`;
const PANEL_KEY = `wschat.protocolo${TAB_SUFFIX}`;
/** Messages kept in sessionStorage, so a reload shows them and resumes after the last one. */
const KEEP = 500;
const SAVE_DELAY_MS = 150;
/** A burst of new messages is acknowledged with one `read`, this long after the first. */
const READ_DELAY_MS = 150;
const TITLE = "wschat";
/** A scroll position this close to the end counts as "at the end": new messages follow it. */
const NEAR_END_PX = 48;

const STATUS_TEXT = {
  idle: "",
  connecting: "conectando…",
  syncing: "sincronizando…",
  online: "conectado",
  reconnecting: "reconectando…",
  offline: "desconectado",
};

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"), me: $("me"), reconnect: $("reconnect"), logout: $("logout"),
  loginSection: $("login"), loginForm: $("login-form"), user: $("login-user"),
  password: $("login-password"), loginSubmit: $("login-submit"), loginError: $("login-error"),
  chat: $("chat"), online: $("online"), scroller: $("scroller"), older: $("older"),
  start: $("start"), messages: $("messages"), outbox: $("outbox"), sendForm: $("send-form"),
  input: $("input"), typing: $("typing"), onlineStale: $("online-stale"), drop: $("drop"),
};

let conn = null; // the ChatConnection of this tab, while logged in (or trying to)
let me = null; // the user's name as the server spells it
let online = new Set();
let shown = []; // the messages on screen, oldest first (saved for a reload)
let more = null; // whether older messages exist: null while unknown
let saveTimer = null;
let readPos = new Position(); // the user's read position, as the server last said
let divider = new Position(); // the divider goes above the first message of another after it
let lastReadSent = null; // the id of this tab's latest `read`, to tell its echo from others'
let unread = 0; // messages from others after readPos (welcome.unread, then counted here)
let readTimer = null;
const typers = new Typers();
const typingThrottle = new TypingThrottle();
let typingTimer = null;
let replaying = false; // the backlog now arriving is a replay (welcome.recovered)
let probing = false; // a history request of one message asks only whether older ones exist
const protocolLog = new ProtocolLog();
const panel = new Panel({
  root: $("protocol"), toggle: $("protocol-toggle"), list: $("protocol-rows"), log: protocolLog,
  storageKey: PANEL_KEY,
});
/** The "novas mensagens" line; on the page only while something is below it. */
const dividerItem = el("li", "divisor", "novas mensagens");
dividerItem.dataset.testid = "unread-divider";
dividerItem.setAttribute("role", "separator");

// ---------------------------------------------------------------------- storage

function loadState() {
  try {
    const state = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null");
    return state !== null && state.v === 1 ? state : null;
  } catch {
    return null;
  }
}

function saveNow() {
  clearTimeout(saveTimer);
  saveTimer = null;
  if (conn === null) return;
  const kept = shown.slice(-KEEP);
  const state = {
    v: 1, user: conn.user, me, token: conn.token, epoch: conn.epoch, lastId: conn.lastId,
    outbox: conn.pending(), messages: kept, more: kept.length < shown.length ? true : more,
  };
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
  } catch (error) {
    console.warn("wschat: cannot save the tab's state", error);
  }
}

function forget() {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch (error) {
    console.warn("wschat: cannot clear the tab's state", error);
  }
}

function saveSoon() {
  if (saveTimer === null) saveTimer = setTimeout(saveNow, SAVE_DELAY_MS);
}

// ---------------------------------------------------------------------- drawing

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const sameName = (a, b) => a !== null && b !== null && a.toLowerCase() === b.toLowerCase();

const timeFormat = new Intl.DateTimeFormat("pt-BR", { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat("pt-BR", {
  day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit",
});
const fullFormat = new Intl.DateTimeFormat("pt-BR", { dateStyle: "full", timeStyle: "medium" });

function timeElement(ts) {
  const date = new Date(ts * 1000);
  const today = date.toDateString() === new Date().toDateString();
  const node = el("time", "hora", (today ? timeFormat : dateTimeFormat).format(date));
  node.dateTime = date.toISOString();
  node.title = fullFormat.format(date);
  return node;
}

function messageElement(m) {
  const item = el("li", "msg");
  item.dataset.testid = "message";
  item.dataset.id = m.id;
  if (sameName(m.from, me)) item.classList.add("minha");
  if (m.confirmed === true) markConfirmed(item);
  const head = el("div", "cabeca");
  head.append(el("span", "de", m.from));
  if (m.to !== null) {
    item.classList.add("privada");
    head.append(el("span", "para", `→ ${m.to}`), el("span", "selo", "privada"));
  }
  if (m.replay === true) {
    item.classList.add("reenviada");
    const label = el("span", "selo reenvio", "reenviada");
    label.title = "chegou no replay: o servidor a reenviou quando esta aba reconectou";
    head.append(label);
  }
  head.append(timeElement(m.ts));
  item.append(head, el("p", "texto", m.text));
  return item;
}

/** A message this tab sent, whose answer came back: the server has it (title for the reader). */
function markConfirmed(item) {
  item.dataset.confirmed = "true";
  item.title = "enviada por esta aba e confirmada pelo servidor";
}

/**
 * The acknowledgment of a resend whose message the tab already got (in the replay, without
 * ref): mark the message on screen as confirmed instead of showing it a second time. False
 * when it is not on screen (the list was redrawn from history since): then it is shown.
 */
function confirmShown(m) {
  const item = ui.messages.querySelector(`[data-id="${CSS.escape(m.id)}"]`);
  if (item === null) return false;
  markConfirmed(item);
  const index = shown.findLastIndex((s) => s.id === m.id);
  if (index >= 0) shown[index] = { ...shown[index], confirmed: true };
  saveSoon();
  return true;
}

// ---------------------------------------------------------------------- read position

/** Where message `id` sits in the list, -1 if not shown. The read position is near the end. */
const indexOf = (id) => shown.findLastIndex((m) => m.id === id);
const isMine = (m) => sameName(m.from, me);

/** The user is looking at this tab: it is visible and its window has the focus. */
function watching() {
  return document.visibilityState === "visible" && document.hasFocus();
}

/** Put the divider above the first message of someone else after `divider`, or remove it. */
function renderDivider() {
  const start = divider.rank(indexOf) + 1;
  const first = shown.findIndex((m, i) => i >= start && !isMine(m));
  const anchor = first >= 0
    ? ui.messages.querySelector(`[data-id="${CSS.escape(shown[first].id)}"]`)
    : null;
  if (anchor === null) dividerItem.remove();
  else if (anchor.previousSibling !== dividerItem) anchor.before(dividerItem);
}

/**
 * The title's badge, only while the user is away (in view, what arrives is read at once: a
 * badge would only flicker), and the position as the server last said (data-read, for tests).
 */
function renderTitle() {
  document.title = badgeTitle(TITLE, watching() ? 0 : unread);
  ui.messages.dataset.read = readPos.id ?? "";
}

function scheduleRead() {
  if (readTimer === null) readTimer = setTimeout(sendRead, READ_DELAY_MS);
}

/** While the user watches, say the newest message shown is read (never an older position). */
function sendRead() {
  clearTimeout(readTimer);
  readTimer = null;
  if (conn === null || !watching()) return;
  const newest = shown.length > 0 ? shown[shown.length - 1].id : null;
  const id = readToSend(newest, readPos, lastReadSent, indexOf);
  if (id !== null && conn.read(id)) lastReadSent = id;
}

/** The user left the tab: what arrives from now on goes below a divider at what they read. */
function leftTab() {
  const sent = lastReadSent !== null ? new Position(lastReadSent, true) : null;
  const seen = sent !== null && sent.rank(indexOf) > readPos.rank(indexOf) ? sent : readPos;
  divider = new Position(seen.id, seen.awaiting);
  renderDivider();
  renderTitle();
}

function cameBack() {
  renderTitle();
  if (watching()) scheduleRead();
}

/** A live message (not backlog) was appended: badge, divider and `read`. */
function liveMessage(m) {
  const looking = watching();
  if (looking && (isMine(m) || !dividerItem.isConnected)) {
    // Written by the user, or arrived under their eyes with no divider: nothing to mark.
    divider = new Position(m.id);
  }
  if (!isMine(m) && indexOf(m.id) > readPos.rank(indexOf)) unread += 1;
  renderDivider();
  renderTitle();
  if (looking) scheduleRead();
}

/** The server moved the read position (this tab's `read`, or another tab's). */
function readMoved(id) {
  const own = id === lastReadSent;
  readPos = new Position(id, true);
  if (!own) divider = new Position(id, true);
  const rank = readPos.rank(indexOf);
  unread = rank === Infinity ? 0 : countUnread(shown, rank, isMine);
  renderDivider();
  renderTitle();
}

function resetReading() {
  clearTimeout(readTimer);
  readTimer = null;
  readPos = new Position();
  divider = new Position();
  lastReadSent = null;
  unread = 0;
  dividerItem.remove();
  renderTitle();
}

// ---------------------------------------------------------------------- typing

const isOnline = (name) => Array.from(online).some((n) => sameName(n, name));

/** The user typed in the input: say so, at most once a second (see TypingThrottle). */
function typed() {
  if (conn === null || !conn.ready) return;
  const target = typingTarget(ui.input.value, (name) => isOnline(name) && !sameName(name, me));
  if (target !== null && typingThrottle.due(performance.now())) conn.typing(target.to);
}

/** Show who is typing now, and come back when the first of them should go. */
function renderTyping() {
  clearTimeout(typingTimer);
  typingTimer = null;
  const now = Date.now();
  const text = typingText(typers.current(now));
  ui.typing.textContent = text;
  ui.typing.hidden = text === "";
  const next = typers.nextExpiry();
  if (next !== null) typingTimer = setTimeout(renderTyping, Math.max(0, next - now) + 20);
}

function stoppedTyping(user) {
  if (typers.forget(user)) renderTyping();
}

// ---------------------------------------------------------------------- scrolling

function nearEnd() {
  const s = ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_END_PX;
}

function toEnd() {
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
}

function appendMessage(m, follow) {
  const stick = follow || nearEnd();
  ui.messages.append(messageElement(m));
  shown.push(m);
  if (stick) toEnd();
  updateOlder();
}

/** A line from the client or the server that is not a chat message (help, errors, notes). */
function notice(text, kind) {
  const stick = nearEnd();
  const item = el("li", `aviso ${kind}`, text);
  item.dataset.kind = kind;
  ui.messages.append(item);
  if (stick) toEnd();
}

function clearMessages() {
  ui.messages.replaceChildren();
  shown = [];
  more = null;
  updateOlder();
}

function prependMessages(messages) {
  const height = ui.scroller.scrollHeight;
  const fragment = document.createDocumentFragment();
  for (const m of messages) fragment.append(messageElement(m));
  ui.messages.prepend(fragment);
  shown = messages.concat(shown);
  ui.scroller.scrollTop += ui.scroller.scrollHeight - height; // keep what the reader sees
}

/**
 * "carregar anteriores" shows only when older messages exist (more: true). After a login with
 * history the tab does not know yet, so it asks for one message before the oldest shown; the
 * answer only tells whether there is more (the list is not changed).
 */
function updateOlder() {
  const connected = ui.status.dataset.state === "online";
  ui.older.hidden = more !== true;
  ui.start.hidden = more !== false;
  ui.older.disabled = !connected || shown.length === 0 || (conn !== null && conn.historyRef !== null);
}

function probeOlder() {
  if (more !== null || probing || conn === null) return;
  if (shown.length === 0) {
    more = false; // nothing at all on screen after a login: the conversation is empty
    updateOlder();
  } else if (conn.history(shown[0].id, 1)) {
    probing = true;
  }
}

function renderOnline() {
  const names = Array.from(online).sort((a, b) => a.localeCompare(b, "pt-BR"));
  ui.online.replaceChildren(...names.map((name) => {
    const item = el("li", sameName(name, me) ? "eu" : "", name);
    if (sameName(name, me)) item.append(el("span", "nota", " (você)"));
    return item;
  }));
}

function outboxText(item) {
  try {
    return JSON.parse(item.frame).text ?? "";
  } catch {
    return "";
  }
}

function renderOutbox(items) {
  const waiting = ui.status.dataset.state !== "online";
  ui.outbox.replaceChildren(...items.map((item) => {
    const line = el("li", "msg pendente");
    line.dataset.ref = item.ref;
    const head = el("div", "cabeca");
    head.append(el("span", "de", me ?? ""), el("span", "selo", waiting ? "aguardando conexão" : "enviando…"));
    line.append(head, el("p", "texto", outboxText(item)));
    return line;
  }));
  if (items.length > 0) toEnd();
}

function setStatus(state, detail) {
  ui.status.dataset.state = state;
  ui.status.textContent = STATUS_TEXT[state] + (detail ? ` (${detail})` : "");
  ui.status.hidden = state === "idle";
  ui.reconnect.hidden = !(state === "offline" && conn !== null && conn.welcomed);
  ui.drop.disabled = state !== "online";
  // Without a connection nobody tells the tab who left or came: say the list may be old.
  const stale = state !== "online" && state !== "syncing";
  ui.online.parentElement.dataset.stale = String(stale);
  ui.onlineStale.hidden = !stale;
  updateOlder();
  if (conn !== null) renderOutbox(conn.pending());
}

function showLogin(user, error) {
  ui.chat.hidden = true;
  ui.logout.hidden = true;
  ui.me.hidden = true;
  ui.loginSection.hidden = false;
  ui.loginSubmit.disabled = false;
  ui.user.value = user;
  ui.password.value = "";
  ui.loginError.hidden = !error;
  ui.loginError.textContent = error ?? "";
  (user ? ui.password : ui.user).focus();
}

function showChat() {
  ui.loginSection.hidden = true;
  ui.chat.hidden = false;
  ui.logout.hidden = false;
  ui.me.hidden = false;
  ui.me.textContent = me;
  ui.input.focus();
}

// ---------------------------------------------------------------------- connection

const handlers = {
  status(state, detail) {
    setStatus(state, detail);
    if (state !== "online") return;
    // Caught up: a position the backlog did not bring is older than the list.
    readPos.settle();
    divider.settle();
    renderDivider();
    scheduleRead();
    probeOlder();
  },
  welcome(welcome, { firstLogin }) {
    me = welcome.user;
    replaying = welcome.recovered === true;
    probing = false; // a request of the old connection gets no answer
    online = new Set(welcome.online);
    renderOnline();
    const redrawn = !welcome.recovered && shown.length > 0;
    if (redrawn) {
      clearMessages();
      notice("Não deu para retomar de onde parou; estas são as mensagens recentes.", "nota");
    }
    // The server's position; the backlog that follows may hold its message.
    const read = typeof welcome.read === "string" ? welcome.read : null;
    readPos = new Position(read, true);
    lastReadSent = null;
    if (firstLogin || redrawn || !dividerItem.isConnected) divider = new Position(read, true);
    unread = Number.isInteger(welcome.unread) ? Math.max(0, welcome.unread) : 0;
    renderTitle();
    typers.clear();
    renderTyping();
    ui.password.value = "";
    showChat();
  },
  message(m, { backlog, answers, repeat }) {
    if (repeat && confirmShown(m)) return;
    // Keep only the protocol's fields (and whether this tab's send it answers came back).
    const { type, id, from, to, text, ts } = m;
    const kept = { type, id, from, to, text, ts };
    if (answers !== null) kept.confirmed = true;
    if (backlog && replaying) kept.replay = true;
    appendMessage(kept, backlog || sameName(m.from, me));
    stoppedTyping(m.from); // the line they were typing arrived
    if (!backlog) liveMessage(kept);
  },
  presence(user, isOn) {
    if (isOn) online.add(user);
    else online.delete(user);
    renderOnline();
    if (!isOn) stoppedTyping(user);
  },
  read: readMoved,
  typing(user, to) {
    if (sameName(user, me)) return; // the server never sends one's own; nothing to show anyway
    typers.saw(user, to !== null, Date.now());
    renderTyping();
  },
  users(names, { asked }) {
    online = new Set(names);
    renderOnline();
    if (asked) notice(`Online agora: ${names.join(", ")}`, "nota");
  },
  history(frame) {
    const messages = Array.isArray(frame.messages) ? frame.messages.filter(isMessage) : [];
    if (probing) { // the question "is there more?": answered by whether one came
      probing = false;
      more = messages.length > 0;
      updateOlder();
      saveSoon();
      return;
    }
    prependMessages(messages);
    renderDivider(); // the position may be among the older messages
    more = frame.more === true;
    updateOlder();
    saveSoon();
  },
  help(text) {
    notice(text, "ajuda");
  },
  error(code, detail, item) {
    if (probing && conn.historyRef === null) { // the probe was refused: leave the button hidden
      probing = false;
      return;
    }
    const text = item !== null ? `Não enviada: «${outboxText(item)}». ${detail}` : detail;
    notice(text || code, "erro");
  },
  outbox: renderOutbox,
  loginFailed(code, detail) {
    saveNow(); // keeps messages and outbox (without the token) for a new login as the same user
    const user = conn.user;
    conn = null;
    showLogin(user, loginErrorText(code, detail, user));
  },
  stopped(code, reason) {
    setStatus("offline", `código ${code}${reason ? `: ${reason}` : ""}`);
  },
  changed: saveSoon,
};

/**
 * Why a login failed, in the user's terms. A password refused with auth_failed means the name
 * is registered with another password: a name's first login creates the account, so a new
 * name could not be refused so. Other refusals keep the server's words.
 */
function loginErrorText(code, detail, user) {
  if (code === "auth_failed") {
    return `A senha não confere: o nome «${user}» já tem conta, criada no primeiro login com ele. `
      + "Digite a senha usada naquele login, ou escolha outro nome para criar uma conta nova.";
  }
  return detail || code;
}

/**
 * The page's handlers for one connection: each does nothing once that connection is no longer
 * the tab's (after a logout its socket still reports its end), and its trace goes to the
 * protocol log with the connection's state at that moment.
 */
function handlersFor(connection) {
  const bound = {};
  for (const [name, handler] of Object.entries(handlers)) {
    bound[name] = (...args) => (conn === connection.current ? handler(...args) : undefined);
  }
  bound.trace = (dir, frame, info) => {
    protocolLog.record(dir, frame, info, stateOf(connection.current.machine));
  };
  return bound;
}

function startConnection(options, saved) {
  clearMessages();
  if (saved !== null) {
    me = saved.me ?? null;
    const restored = saved.messages ?? [];
    if (restored.length > 0) {
      // One append for the whole list: one layout, not one per message (up to KEEP).
      ui.messages.append(...restored.map((m) => messageElement(m)));
      shown = restored.slice();
      toEnd();
      updateOlder();
    }
    more = saved.more ?? null;
  }
  // With a restored outbox, the ids on screen tell the connection which messages the tab
  // already showed, so that the answer to a resend of one of them is not shown twice.
  const delivered = saved !== null ? (saved.messages ?? []).map((m) => m.id) : [];
  const connection = { current: null };
  connection.current = new ChatConnection({
    url: socketUrl(location), ...options, delivered, handlers: handlersFor(connection),
  });
  conn = connection.current;
  replaying = false;
  probing = false;
  conn.start();
  if (saved !== null && saved.token) showChat();
}

function login(event) {
  event.preventDefault();
  const user = ui.user.value.trim();
  const password = ui.password.value;
  if (!user || !password) {
    ui.loginError.textContent = "Informe o nome e a senha.";
    ui.loginError.hidden = false;
    return;
  }
  ui.loginError.hidden = true;
  ui.loginSubmit.disabled = true;
  let saved = loadState();
  if (saved !== null && !sameName(saved.user, user)) {
    forget(); // another user's tab state is not ours
    saved = null;
  }
  startConnection({
    user, password, epoch: saved?.epoch ?? null, lastId: saved?.lastId ?? null,
    outbox: saved?.outbox ?? [],
  }, saved === null ? null : { ...saved, token: null });
}

function logout() {
  const leaving = conn;
  conn = null; // first: what the leaving connection reports from now on is not the tab's
  if (leaving !== null) leaving.logout();
  me = null;
  forget();
  clearMessages();
  ui.outbox.replaceChildren();
  online = new Set();
  renderOnline();
  resetReading();
  typers.clear();
  renderTyping();
  setStatus("offline", "");
  showLogin("", null);
}

function submitLine(event) {
  event.preventDefault();
  const text = ui.input.value;
  if (conn === null || text.trim() === "") return;
  if (text.trim().toLowerCase() === "/logout") {
    logout();
    return;
  }
  if (text.trim().toLowerCase() === "/cair") { // answered only by the lost connection
    if (!conn.drop()) notice("Sem conexão agora: /cair funciona depois de reconectar.", "erro");
    ui.input.value = "";
    return;
  }
  try {
    conn.send(text);
  } catch (error) {
    notice(error instanceof RangeError ? "Mensagem longa demais para enviar." : String(error), "erro");
    return;
  }
  ui.input.value = "";
  ui.input.focus();
}

/** "Simular queda": the server cuts this connection; the tab reconnects and resumes. */
function simulateDrop() {
  if (conn === null || !conn.drop()) notice("Sem conexão agora: a queda só pode ser simulada conectado.", "erro");
}

function loadOlder() {
  if (conn !== null && shown.length > 0 && conn.history(shown[0].id, 50)) updateOlder();
}

// ---------------------------------------------------------------------- start

ui.loginForm.addEventListener("submit", login);
ui.sendForm.addEventListener("submit", submitLine);
ui.input.addEventListener("input", typed);
ui.older.addEventListener("click", loadOlder);
ui.drop.addEventListener("click", simulateDrop);
ui.logout.addEventListener("click", logout);
ui.reconnect.addEventListener("click", () => conn?.start());
addEventListener("online", () => conn?.retryNow());
addEventListener("pagehide", saveNow);
addEventListener("focus", cameBack);
addEventListener("blur", leftTab);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") cameBack();
  else leftTab();
});
$("ws-url").textContent = socketUrl(location);

const saved = loadState();
if (saved !== null && saved.token) {
  startConnection({
    user: saved.user, token: saved.token, epoch: saved.epoch, lastId: saved.lastId,
    outbox: saved.outbox,
  }, saved);
} else {
  showLogin(saved?.user ?? "", null);
}
