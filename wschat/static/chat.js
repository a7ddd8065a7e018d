// The browser client's public names, in one module, for a script that wants the whole client
// (the browser tests import "/chat.js"); the page (app.js) imports each job's module itself.
// Each job lives in its own module, with no DOM in any of them:
//
// - chat_wire.js: the protocol's constants, the socket URL, backoff, refs, and the checks of
//   a server frame (parseEvent, isMessage) and of the id order (isLater).
// - client_machine.js: ClientMachine, the client's state machine without I/O (the port of
//   wschat/client/protocol.py's ClientProtocol), and its Outbox.
// - chat_connection.js: ChatConnection, the pump that drives a ClientMachine over a WebSocket.
// - screen_rules.js: the read position, the unread badge and the typing line.

export {
  CLOSE_LOGIN, LEAVING_CODES, MAX_FRAME, Phase, RECONNECT_CODES, backoffDelay, isLater,
  isMessage, newRef, parseEvent, socketUrl,
} from "./chat_wire.js";
export { ClientMachine, Outbox } from "./client_machine.js";
export { ChatConnection } from "./chat_connection.js";
export {
  Position, TYPING_EVERY_MS, TYPING_SHOW_MS, TypingThrottle, Typers, UNREAD_CAP, badgeTitle,
  countUnread, readToSend, typingTarget, typingText,
} from "./screen_rules.js";
