// The protocol inspector's logic: what each frame and socket event of this tab means, in
// Brazilian Portuguese, and the bounded log the panel draws from. No DOM here (panel.js draws).
//
// ChatConnection (chat_connection.js) reports every frame it writes and receives and every
// socket event to one trace handler. The page hands each report to ProtocolLog.record() with a
// small snapshot of the machine (stateOf), and nothing else happens on the chat's path: no
// parsing, no formatting, no DOM. The meaning lines, the masking and the times are computed
// only when the panel draws a row (explain, rowOf, rawText), so a closed panel costs one array
// slot per frame. Recording while closed matters: the rows a reader most wants (the login and its
// welcome, the drop they just did) come before they think of opening the panel.
//
// Secrets: a login's password or token and a welcome's token never enter the log. A frame that
// could hold one is masked as it is recorded (maskRaw), and again when drawn.

/** Rows kept (and drawn): the latest ones; older rows are forgotten. */
export const ROWS = 300;
/** What a masked secret shows instead. */
export const HIDDEN = "«oculto»";
/** Keys whose values are secrets wherever they appear in a frame. */
const SECRET_KEYS = new Set(["password", "token"]);

const seconds = new Intl.NumberFormat("pt-BR", { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** A wait before a retry: "menos de 1 ms", "4 ms", "1,3 s". */
function delayText(delay) {
  const ms = Math.round(delay * 1000);
  if (ms < 1) return "menos de 1 ms";
  return delay < 1 ? `${ms} ms` : `${seconds.format(delay)} s`;
}

// -------------------------------------------------------------------- recording

/**
 * What the meaning of a report depends on, read from a ClientMachine (client_machine.js) at
 * the moment of the report: who this tab is, its phase, the current welcome (shared, never
 * copied: the machine replaces it and never changes it), the id its latest login resumed
 * after, whether a drop or a logout was asked for on this connection.
 */
export function stateOf(machine) {
  return {
    me: machine.welcome !== null ? machine.welcome.user : machine.user,
    phase: machine.phase,
    welcome: machine.welcome,
    resumedFrom: machine.resumedFrom,
    dropping: machine.dropping !== null,
    loggingOut: machine.loggingOut,
  };
}

/**
 * The latest `limit` reports of one tab, oldest first, each {n, at, dir, raw, info, state}:
 * n counts every report ever recorded (so n of the oldest kept tells how many were forgotten),
 * at is the time in ms. `listener`, when set (the panel is open), hears each new entry.
 */
export class ProtocolLog {
  constructor(limit = ROWS, now = Date.now) {
    this.limit = limit;
    this.now = now;
    this.ring = [];
    this.head = 0; // where the oldest entry sits once the ring is full
    this.count = 0;
    this.listener = null;
  }

  /** Keep one report: dir "out" | "in" | "open" | "close" | "error" | "timeout" | "wait". */
  record(dir, raw, info, state) {
    const entry = { n: this.count, at: this.now(), dir, raw: mightHoldSecret(raw) ? maskRaw(raw) : raw, info, state };
    this.count += 1;
    if (this.ring.length < this.limit) {
      this.ring.push(entry);
    } else {
      this.ring[this.head] = entry;
      this.head = (this.head + 1) % this.limit;
    }
    if (this.listener !== null) this.listener(entry);
    return entry;
  }

  /** The entries kept, oldest first. */
  entries() {
    return this.ring.slice(this.head).concat(this.ring.slice(0, this.head));
  }

  get size() {
    return this.ring.length;
  }
}

function mightHoldSecret(raw) {
  return typeof raw === "string"
    && (raw.includes('"password"') || raw.includes('"token"') || /^\s*\/login\b/i.test(raw));
}

// -------------------------------------------------------------------- masking

function maskValue(value) {
  if (Array.isArray(value)) return value.map(maskValue);
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = SECRET_KEYS.has(key) ? HIDDEN : maskValue(inner);
  }
  return out;
}

/**
 * A frame's text with every password and token replaced by HIDDEN: JSON objects key by key,
 * a typed `/login NAME PASSWORD` line after the name, anything else (not JSON, or cut short)
 * by pattern.
 */
export function maskRaw(raw) {
  if (typeof raw !== "string") return raw;
  const login = /^(\s*\/login\s+\S+\s+)[\s\S]*$/i.exec(raw);
  if (login !== null) return `${login[1]}${HIDDEN}`;
  try {
    const parsed = JSON.parse(raw);
    if (parsed !== null && typeof parsed === "object") return JSON.stringify(maskValue(parsed));
  } catch {
    // not JSON: masked by pattern below
  }
  return raw.replace(/("(?:password|token)"\s*:\s*)"(?:[^"\\]|\\.)*("|$)/g, `$1"${HIDDEN}"`);
}

/** The frame to show when a row is opened: masked, and indented when it is JSON. */
export function rawText(entry) {
  if (typeof entry.raw !== "string") return JSON.stringify(entry.info, null, 2);
  const masked = maskRaw(entry.raw);
  try {
    return JSON.stringify(JSON.parse(masked), null, 2);
  } catch {
    return masked;
  }
}

// -------------------------------------------------------------------- meaning

const sameName = (a, b) => typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();

function parse(raw) {
  if (typeof raw !== "string") return null;
  try {
    const frame = JSON.parse(raw);
    return frame !== null && typeof frame === "object" && !Array.isArray(frame) ? frame : null;
  } catch {
    return null;
  }
}

function quoted(text, max = 40) {
  const flat = String(text).replace(/\s+/g, " ").trim();
  return `«${flat.length > max ? `${flat.slice(0, max - 1)}…` : flat}»`;
}

function names(list) {
  if (!Array.isArray(list) || list.length === 0) return "ninguém";
  return list.join(", ");
}

/** "de ana para todos" / "privada de ana para joao" / "privada de ana para você". */
function fromTo(frame, me) {
  if (frame.to === null || frame.to === undefined) return `de ${frame.from} para todos`;
  const to = sameName(frame.to, me) && !sameName(frame.from, me) ? "você" : frame.to;
  return `privada de ${frame.from} para ${to}`;
}

function sent(frame, why) {
  const ref = typeof frame.ref === "string" ? frame.ref : null;
  if (why === "resend") {
    return `reenvio depois da reconexão, com o mesmo ref ${ref}: se o servidor já a tinha gravado, `
      + "devolve a original em vez de gravar de novo";
  }
  const text = typeof frame.text === "string" ? frame.text.trim() : "";
  const waits = `fica na fila desta aba até voltar uma resposta com o ref ${ref}`;
  if (typeof frame.to === "string") return `mensagem privada para ${frame.to}; ${waits}`;
  const command = /^\/(\S+)(?:\s+(\S+))?/.exec(text);
  if (command === null) return `mensagem pública ${quoted(text)}; ${waits}`;
  switch (command[1].toLowerCase()) {
    case "msg": return `mensagem privada para ${command[2] ?? "?"} (/msg); ${waits}`;
    case "who": return `pergunta quem está online (/who); a resposta volta só para esta aba`;
    case "help": return "pede a lista de comandos (/help)";
    default: return `comando /${command[1]}: o servidor responde só a esta aba`;
  }
}

function meaningOut(frame, why, state) {
  switch (frame.type) {
    case "login": {
      const secret = "password" in frame ? "senha" : "token";
      if (frame.resume && typeof frame.resume === "object") {
        const how = secret === "token" ? "com o token, sem a senha" : "com a senha";
        return `reconectando: pede tudo depois do id ${frame.resume.after} (epoch ${frame.resume.epoch}), ${how}`;
      }
      return secret === "token"
        ? "login com o token de um welcome anterior: o servidor não gasta um hash de senha"
        : "login com nome e senha (o primeiro login de um nome cria a conta)";
    }
    case "who":
      return why === "barrier"
        ? "pergunta quem está online; a resposta só vem depois do histórico ou do replay e marca o fim deles"
        : "pergunta quem está online";
    case "send": return sent(frame, why);
    case "history":
      return frame.limit === 1
        ? `pede 1 mensagem anterior ao id ${frame.before}: a resposta diz se há mais (more)`
        : `pede até ${frame.limit} mensagens anteriores ao id ${frame.before}`;
    case "read": return `marca como lida até a mensagem ${frame.id}; o servidor avisa todas as suas abas`;
    case "typing":
      return typeof frame.to === "string"
        ? `avisa ${frame.to} que você está digitando (no máximo um aviso por segundo; nada é gravado)`
        : "avisa os outros que você está digitando (no máximo um aviso por segundo; nada é gravado)";
    case "drop":
      return "pede ao servidor que corte esta conexão sem close, como faz uma queda de rede";
    case "logout": return "sair: o servidor invalida o token e fecha a conexão com 1000";
    default: return `quadro do tipo ${frame.type}`;
  }
}

function meaningWelcome(frame, state) {
  const after = state.resumedFrom;
  if (frame.recovered === true) {
    if (after === null || after === undefined) return "recovered: true, nada se perdeu";
    if (frame.last === after) return `recovered: true, nada se perdeu: nada de novo depois do id ${after}`;
    return `recovered: true, nada se perdeu: o replay traz o que veio depois do id ${after}, até o id ${frame.last}`;
  }
  const until = frame.last === null ? "a conversa ainda está vazia" : `o histórico termina no id ${frame.last}`;
  if (after !== null && after !== undefined) {
    return `recovered: false: não deu para retomar depois do id ${after} (outro epoch, ou faltava demais); ${until}`;
  }
  return `o servidor aceitou o login; ${until}`;
}

function meaningMessage(frame, meant, state) {
  const welcome = state.welcome;
  if (meant === "confirmed") {
    return `resposta ao reenvio: o ref ${frame.ref} confirma a mensagem ${frame.id}, que já tinha chegado no replay; `
      + "não aparece de novo";
  }
  if (meant === "backlog") {
    const replay = welcome !== null && welcome !== undefined && welcome.recovered === true;
    const last = welcome !== null && welcome !== undefined && frame.id === welcome.last;
    if (replay) {
      return `replay: ${fromTo(frame, state.me)} (id ${frame.id}), de quando esta aba estava fora`
        + (last ? "; é a última do replay (id = last)" : "");
    }
    return `histórico: ${fromTo(frame, state.me)} (id ${frame.id}), de antes deste login`
      + (last ? "; é a última do histórico (id = last)" : "");
  }
  if (typeof frame.ref === "string") {
    return `esta é a sua mensagem de volta: o ref ${frame.ref} confirma que o servidor a gravou (id ${frame.id})`;
  }
  if (sameName(frame.from, state.me)) {
    return `sua mensagem (id ${frame.id}), enviada de outra aba ou aparelho: o ref só volta para quem enviou`;
  }
  return `mensagem ${fromTo(frame, state.me)}, ao vivo (id ${frame.id})`;
}

function meaningIn(frame, meant, state) {
  if (meant === "welcome") return meaningWelcome(frame, state);
  if (meant === "refused") {
    return `login recusado (${frame.code}): ${frame.detail}; o servidor fecha a conexão com 4001 em seguida`;
  }
  if (meant === "unexpected") return "resposta inesperada ao login: este servidor não fala o protocolo do wschat";
  if (meant === "ignored") return `quadro ${frame.type ?? "sem tipo"} que esta aba não usa agora: ignorado`;
  if (meant === "drop_refused") return `o servidor recusou a queda (${frame.code}): ${frame.detail}`;
  if (frame.type === "message") return meaningMessage(frame, meant, state);
  if (meant === "barrier") {
    const what = state.welcome && state.welcome.recovered ? "o replay" : "o histórico";
    return `resposta ao who da sincronização: ${what} acabou; online: ${names(frame.online)}`;
  }
  switch (frame.type) {
    case "presence":
      return frame.online
        ? `${frame.user} entrou: abriu a primeira aba ou aparelho`
        : `${frame.user} saiu: fechou (ou perdeu) a última aba ou aparelho`;
    case "users":
      return typeof frame.ref === "string"
        ? `resposta ao /who: online agora: ${names(frame.online)}`
        : `online agora: ${names(frame.online)}`;
    case "history": {
      const n = Array.isArray(frame.messages) ? frame.messages.length : 0;
      const more = frame.more ? "more: true, há mais antes" : "more: false, é o começo da conversa";
      if (n === 0) return `nenhuma mensagem anterior; ${more}`;
      const ids = `ids ${frame.messages[0].id} a ${frame.messages[n - 1].id}`;
      return n === 1 ? `1 mensagem anterior (id ${frame.messages[0].id}); ${more}` : `${n} mensagens anteriores (${ids}); ${more}`;
    }
    case "help": return "a ajuda: os comandos que o servidor entende";
    case "error":
      return typeof frame.ref === "string"
        ? `o servidor recusou o quadro de ref ${frame.ref} (${frame.code}): ${frame.detail}; nada foi gravado`
        : `erro (${frame.code}): ${frame.detail}`;
    case "read": return `sua posição de leitura foi para o id ${frame.id} (vale para todas as suas abas)`;
    case "typing":
      return typeof frame.to === "string"
        ? `${frame.user} está digitando uma mensagem privada para você`
        : `${frame.user} está digitando`;
    default: return `quadro do tipo ${frame.type}`;
  }
}

const CLOSE_MEANING = {
  1000: "fechamento normal; não reconecta",
  1001: "o servidor está saindo (reinício ou desligamento); reconecta e retoma",
  1006: "a conexão caiu sem close (rede ou servidor); reconecta e retoma",
  1007: "texto que não é UTF-8 válido; não reconecta",
  1008: "o servidor recusou algo por política; não reconecta",
  1009: "quadro grande demais (o limite é 64 KiB); não reconecta",
  1011: "erro no servidor, ou ping sem resposta; reconecta e retoma",
  1012: "o servidor está reiniciando (um deploy); reconecta e retoma",
  1013: "o servidor está sobrecarregado; reconecta e retoma, com espera",
  4001: "login recusado; não reconecta",
  4008: "esta aba não lia rápido o bastante e o servidor a desligou; reconecta e retoma",
};

function meaningClose(info, state) {
  const code = info.code;
  const reason = info.reason ? ` (motivo: ${quoted(info.reason)})` : "";
  let text;
  if (state.phase === "waiting" || state.phase === "closed") {
    text = "não conseguiu conectar (servidor fora do ar, ou sem rede); tenta de novo";
  } else if (code === 1006 && state.dropping) {
    text = "a conexão caiu sem close: foi a queda que você pediu; reconecta e retoma";
  } else if (state.phase === "opening" && code !== 4001) {
    text = "a conexão caiu antes do welcome; tenta de novo";
  } else if (code === 1000 && state.loggingOut) {
    text = "fechamento normal, depois do logout; não reconecta";
  } else {
    text = CLOSE_MEANING[code] ?? "um código que esta aba não conhece; não reconecta";
  }
  return `${code}: ${text}${reason}`;
}

/**
 * One line, in Portuguese, saying what a report means in this conversation. `dir` and `info`
 * are the trace's (ChatConnection, chat_connection.js), `raw` the frame's text (or null for a
 * socket event), `state` a stateOf() snapshot taken when it happened.
 */
export function explain(dir, raw, info, state) {
  switch (dir) {
    case "open": return "conexão WebSocket aberta (o handshake HTTP terminou em 101); o primeiro quadro é o login";
    case "close": return meaningClose(info, state);
    case "error": return "o navegador avisou um erro na conexão (sem detalhes, por segurança); o close vem em seguida";
    case "timeout": return "10 s sem welcome: desiste desta conexão e tenta de novo";
    case "wait":
      return `reconectando em ${delayText(info.delay)} (tentativa ${info.attempt + 1}): `
        + "uma espera sorteada, com um teto que dobra a cada tentativa";
    default: break;
  }
  const frame = parse(raw);
  if (frame === null) {
    return dir === "out" ? `linha de texto ${quoted(raw)}` : `texto que não é um quadro do protocolo: ${quoted(raw)}`;
  }
  return dir === "out" ? meaningOut(frame, info.why, state) : meaningIn(frame, info.meant, state);
}

// -------------------------------------------------------------------- rows

const DIRECTIONS = { out: "↑ enviado", in: "↓ recebido" };
const EVENT_TYPES = { open: "open", close: "close", error: "error", timeout: "sem welcome", wait: "espera" };

/** hh:mm:ss,mmm in Brazilian Portuguese (local time unless `timeZone` is given). */
export function formatTime(ms, timeZone = undefined) {
  const parts = new Intl.DateTimeFormat("pt-BR", {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZone,
  }).format(new Date(ms));
  return `${parts},${String(Math.floor(ms % 1000)).padStart(3, "0")}`;
}

/** The type column: the frame's `type`, or the socket event ("close 1006", "espera"). */
export function typeOf(dir, raw, info) {
  if (dir === "close") return `close ${info.code}`;
  if (dir in EVENT_TYPES) return EVENT_TYPES[dir];
  const frame = parse(raw);
  if (frame === null) return "texto";
  return typeof frame.type === "string" ? frame.type : "?";
}

/** What the panel shows for one entry: {n, time, direction, type, line, replay}. */
export function rowOf(entry, timeZone = undefined) {
  return {
    n: entry.n,
    time: formatTime(entry.at, timeZone),
    direction: DIRECTIONS[entry.dir] ?? "• conexão",
    type: typeOf(entry.dir, entry.raw, entry.info),
    line: explain(entry.dir, entry.raw, entry.info, entry.state),
    replay: entry.dir === "in" && entry.info.meant === "backlog"
      && entry.state.welcome !== null && entry.state.welcome !== undefined && entry.state.welcome.recovered === true,
  };
}
