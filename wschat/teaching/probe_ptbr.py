"""What the probe's failures mean, in Brazilian Portuguese, for the pt-BR notebooks.

The probe (:mod:`wschat.teaching.probe`) and its command line speak English, like the rest of
the project's command line and logs (docs/probe.md lists every message); the chat server's
messages to its users are Portuguese. A notebook shows the probe's one-line failure as it is
and, next to it, what it means: :func:`explain` for a :class:`ProbeError`, :func:`exit_meaning`
for an exit code of ``python -m wschat probe``.
"""

from __future__ import annotations

from wschat.teaching.probe import ProbeError

__all__ = ["EXIT_MEANINGS", "MEANINGS", "error_classes", "exit_meaning", "explain"]

#: Each ``ProbeError.kind``, in Portuguese.
MEANINGS: dict[str, str] = {
    "error": "a conexão falhou",
    "connection_failed": "a conexão falhou por outro motivo (erro de rede, ou o outro lado "
                         "não fala WebSocket direito)",
    "name_not_found": "nome não encontrado: a consulta DNS não achou o servidor",
    "connection_refused": "conexão recusada: ninguém escuta nesse endereço e porta",
    "tls_failure": "falha de TLS: certificado não aceito, ou o servidor não fala TLS nessa porta",
    "timeout": "tempo esgotado antes de chegar qualquer mensagem",
    "handshake_rejected": "handshake recusado: o servidor respondeu com um status HTTP em vez "
                          "do 101",
    "closed_before_message": "o servidor fechou a conexão antes de mandar qualquer mensagem",
    "offline": "bloqueado pelo WSCHAT_OFFLINE=1: o probe não sai desta máquina",
    "login_required": "é um servidor de chat wschat, que não manda nada antes do login: mande "
                      "/login NOME SENHA primeiro (--send), ou converse com python -m wschat chat",
}

#: The exit codes of ``python -m wschat probe`` that no ProbeError carries.
_OTHER_EXITS: dict[int, str] = {
    0: "sucesso, chegou ao menos uma mensagem",
    2: "URL ou argumentos inválidos",
    130: "interrompido (Ctrl+C)",
}


def error_classes() -> list[type[ProbeError]]:
    """ProbeError and every subclass of it."""
    found: list[type[ProbeError]] = []
    pending: list[type[ProbeError]] = [ProbeError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


#: Every exit code of ``python -m wschat probe``, in Portuguese.
EXIT_MEANINGS: dict[int, str] = {
    **_OTHER_EXITS,
    **{cls.exit_code: MEANINGS[cls.kind] for cls in error_classes() if cls is not ProbeError},
}


def explain(error: ProbeError) -> str:
    """``[kind] meaning`` for a probe failure, e.g. ``[timeout] tempo esgotado antes…``."""
    return f"[{error.kind}] {MEANINGS.get(error.kind, MEANINGS['error'])}"


def exit_meaning(code: int) -> str:
    """What an exit code of ``python -m wschat probe`` means, in Portuguese."""
    return EXIT_MEANINGS.get(code, f"código {code}, que o probe não usa")
