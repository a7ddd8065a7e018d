// The protocol panel ("Ver o protocolo"): draws the rows of a ProtocolLog (inspector.js) beside
// the chat. Closed, it does nothing at all: it does not listen to the log, so no row and no
// DOM node is built. Opened, it draws the entries kept so far in one go, then one row per new
// entry, keeping at most the log's limit of rows on the page.
//
// Each row is a <details>: its <summary> (time, direction, type, meaning) is a keyboard stop
// that Enter or Space opens, and the frame's JSON is written into it only when first opened.
// Arrow keys move between rows; Home and End go to the first and the last.
//
// Whether the panel is open is kept per tab (sessionStorage), like the rest of the tab's state.

import { rawText, rowOf } from "./inspector.js";

/** A scroll position this close to the end counts as "at the end": new rows follow it. */
const NEAR_END_PX = 32;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class Panel {
  /**
   * root: the panel's landmark; toggle: the "Ver o protocolo" button; list: the rows' <ol>;
   * log: the ProtocolLog; storageKey: where the open state is kept.
   */
  constructor({ root, toggle, list, log, storageKey }) {
    this.root = root;
    this.toggle = toggle;
    this.list = list;
    this.log = log;
    this.storageKey = storageKey;
    toggle.addEventListener("click", () => this.setOpen(!this.isOpen));
    list.addEventListener("toggle", (event) => this.filled(event.target), true);
    list.addEventListener("keydown", (event) => this.moved(event));
    this.setOpen(this.remembered(), { remember: false });
  }

  get isOpen() {
    return !this.root.hidden;
  }

  remembered() {
    try {
      return sessionStorage.getItem(this.storageKey) === "aberto";
    } catch {
      return false;
    }
  }

  setOpen(open, { remember = true } = {}) {
    this.root.hidden = !open;
    this.toggle.setAttribute("aria-expanded", String(open));
    if (open) {
      this.list.replaceChildren(...this.log.entries().map((entry) => this.rowElement(entry)));
      this.log.listener = (entry) => this.append(entry);
      this.list.scrollTop = this.list.scrollHeight;
    } else {
      this.log.listener = null;
      this.list.replaceChildren(); // nothing kept on the page while closed
    }
    if (!remember) return;
    try {
      if (open) sessionStorage.setItem(this.storageKey, "aberto");
      else sessionStorage.removeItem(this.storageKey);
    } catch (error) {
      console.warn("wschat: cannot remember the panel", error);
    }
  }

  append(entry) {
    const list = this.list;
    const follow = list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_END_PX;
    list.append(this.rowElement(entry));
    while (list.childElementCount > this.log.limit) list.firstElementChild.remove();
    if (follow) list.scrollTop = list.scrollHeight;
  }

  rowElement(entry) {
    const row = rowOf(entry);
    const item = el("li", `quadro ${entry.dir}`);
    item.dataset.testid = "protocol-row";
    item.dataset.n = String(row.n);
    item.dataset.dir = entry.dir;
    item.dataset.type = row.type;
    item.entry = entry; // for the JSON, written when the row is first opened
    if (row.replay) item.classList.add("replay");
    const details = el("details");
    const summary = el("summary");
    const time = el("time", "hora", row.time);
    time.dateTime = new Date(entry.at).toISOString();
    summary.append(
      time, el("span", "sentido", row.direction), el("code", "tipo", row.type), el("span", "significado", row.line),
    );
    details.append(summary);
    item.append(details);
    return item;
  }

  /** A row was opened: write its JSON (masked) the first time. */
  filled(details) {
    if (!(details instanceof HTMLDetailsElement) || !details.open || details.querySelector("pre") !== null) return;
    const item = details.closest("li");
    const pre = el("pre", "json", rawText(item.entry));
    pre.dataset.testid = "protocol-json";
    details.append(pre);
  }

  /** Arrow keys, Home and End move between the rows' summaries. */
  moved(event) {
    const summary = event.target.closest("summary");
    if (summary === null) return;
    const item = summary.closest("li");
    let next = null;
    if (event.key === "ArrowDown") next = item.nextElementSibling;
    else if (event.key === "ArrowUp") next = item.previousElementSibling;
    else if (event.key === "Home") next = this.list.firstElementChild;
    else if (event.key === "End") next = this.list.lastElementChild;
    else return;
    event.preventDefault();
    if (next !== null) next.querySelector("summary").focus();
  }
}
