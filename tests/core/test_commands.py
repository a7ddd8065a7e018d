"""wschat.core.commands: /msg, /who, /help, /logout, /cair, and the plain /login line."""

from __future__ import annotations

import pytest

from wschat.core.commands import LOGIN_USAGE, MSG_USAGE, parse_command, parse_login_line
from wschat.core.requests import (
    MAX_PASSWORD,
    MAX_TEXT,
    Drop,
    HelpRequest,
    Login,
    Logout,
    Rejected,
    Send,
    WhoRequest,
)

COMMANDS: list[tuple[str, Send | WhoRequest | HelpRequest | Logout | Drop]] = [
    ("/msg joao oi", Send("oi", "joao", "r")),
    ("/MSG joao oi", Send("oi", "joao", "r")),
    ("/Msg Joao oi", Send("oi", "Joao", "r")),
    # one run of white space after the word and after the name; the text kept as written
    ("/msg   joao \t  oi,  tudo bem?  ", Send("oi,  tudo bem?  ", "joao", "r")),
    ("/msg joao linha 1\nlinha 2", Send("linha 1\nlinha 2", "joao", "r")),
    ("/msg\njoao\toi", Send("oi", "joao", "r")),
    ("/msg joao /who", Send("/who", "joao", "r")),
    ("/msg joao " + "x" * MAX_TEXT, Send("x" * MAX_TEXT, "joao", "r")),
    ("/who", WhoRequest("r")),
    ("/WHO", WhoRequest("r")),
    ("/who  ", WhoRequest("r")),
    ("/help", HelpRequest("r")),
    ("/Help", HelpRequest("r")),
    ("/logout", Logout("r")),
    ("/LOGOUT\n", Logout("r")),
    ("/cair", Drop("r")),
    ("/Cair ", Drop("r")),
]


@pytest.mark.parametrize(("line", "expected"), COMMANDS)
def test_commands(line: str, expected: Send | WhoRequest | HelpRequest | Logout | Drop) -> None:
    assert parse_command(line, "r") == expected


def test_ref_is_carried_as_given() -> None:
    assert parse_command("/who", None) == WhoRequest(None)
    assert parse_command("/msg ana oi", "c-9") == Send("oi", "ana", "c-9")


REJECTED: list[tuple[str, str, str]] = [
    # (line, code, a piece of the detail)
    ("/msg", "invalid_message", MSG_USAGE),
    ("/msg ", "invalid_message", MSG_USAGE),
    ("/msg joao", "invalid_message", MSG_USAGE),
    ("/msg joao   ", "invalid_message", MSG_USAGE),
    ("/msg joao \n\t ", "invalid_message", MSG_USAGE),
    ("/msg j@o oi", "unknown_user", "nenhum usuário chamado 'j@o'"),
    ("/msg " + "a" * 33 + " oi", "unknown_user", "nenhum usuário chamado"),
    ("/msg joao " + "x" * (MAX_TEXT + 1), "too_long", "4000"),
    ("/msg joao \u3000\u00a0", "invalid_message", MSG_USAGE),
    ("/msg joao oi \ud800", "invalid_message", "inválidos"),
    ("/who ana", "invalid_message", "uso: /who"),
    ("/help me", "invalid_message", "uso: /help"),
    ("/logout now", "invalid_message", "uso: /logout"),
    ("/cair agora", "invalid_message", "uso: /cair"),
    ("/login joao pw", "invalid_message", "você já entrou"),
    ("/LOGIN", "invalid_message", "você já entrou"),
    ("/", "unknown_command", "'/'"),
    ("/ msg joao oi", "unknown_command", "'/'"),
    ("/foo", "unknown_command", "'/foo'"),
    ("/dance now please", "unknown_command", "'/dance'"),
    ("/msgjoao oi", "unknown_command", "'/msgjoao'"),
    ("//who", "unknown_command", "'//who'"),
]


@pytest.mark.parametrize(("line", "code", "detail"), REJECTED)
def test_rejected_commands(line: str, code: str, detail: str) -> None:
    event = parse_command(line, "r")
    assert isinstance(event, Rejected)
    assert (event.code, event.ref, event.from_login) == (code, "r", False)
    assert detail in event.detail


def test_unknown_command_points_to_help() -> None:
    event = parse_command("/xyz", None)
    assert isinstance(event, Rejected)
    assert "/xyz" in event.detail and "/help" in event.detail


def test_unknown_command_detail_is_short_and_safe() -> None:
    event = parse_command("/" + "\ud800" * 10_000, None)
    assert isinstance(event, Rejected) and event.code == "unknown_command"
    assert len(event.detail) < 120
    event.detail.encode("utf-8")


# --------------------------------------------------------------------------- /login lines

LOGIN_LINES: list[tuple[str, Login]] = [
    ("/login joao s3cret", Login("joao", "s3cret", None, None)),
    ("/LOGIN joao s3cret", Login("joao", "s3cret", None, None)),
    ("/login  Joao\t\tminha senha  longa ", Login("Joao", "minha senha  longa ", None, None)),
    ("/login joao " + "p" * MAX_PASSWORD, Login("joao", "p" * MAX_PASSWORD, None, None)),
]


@pytest.mark.parametrize(("line", "expected"), LOGIN_LINES)
def test_login_lines(line: str, expected: Login) -> None:
    assert parse_login_line(line) == expected


@pytest.mark.parametrize(
    "line", ["", "oi", " /login joao pw", "/loginjoao pw", "/msg joao pw", "/", "login joao pw"]
)
def test_not_login_lines(line: str) -> None:
    assert parse_login_line(line) is None


@pytest.mark.parametrize(
    ("line", "code", "detail"),
    [
        ("/login", "invalid_message", LOGIN_USAGE),
        ("/login   ", "invalid_message", LOGIN_USAGE),
        ("/login joao", "invalid_message", LOGIN_USAGE),
        ("/login joao \t", "invalid_message", LOGIN_USAGE),
        ("/login j@o pw", "invalid_name", "nome inválido"),
        ("/login " + "a" * 33 + " pw", "invalid_name", "nome inválido"),
        ("/login joao " + "p" * (MAX_PASSWORD + 1), "invalid_message", "1024"),
    ],
)
def test_rejected_login_lines(line: str, code: str, detail: str) -> None:
    event = parse_login_line(line)
    assert isinstance(event, Rejected)
    assert (event.code, event.ref, event.from_login) == (code, None, True)
    assert detail in event.detail
