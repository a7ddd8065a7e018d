"""Every failure of the probe has a Portuguese meaning, and docs/probe.md lists every exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from wschat.teaching.probe import ConnectionRefused, ProbeError
from wschat.teaching.probe.failures import EXIT_CODES
from wschat.teaching.probe_ptbr import EXIT_MEANINGS, MEANINGS, error_classes, exit_meaning, explain

DOC = Path(__file__).resolve().parents[2] / "docs" / "probe.md"


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_every_failure_kind_has_a_meaning(cls: type[ProbeError]) -> None:
    assert cls.kind in MEANINGS


def test_every_exit_code_has_one_meaning() -> None:
    codes = [cls.exit_code for cls in error_classes() if cls is not ProbeError]
    assert len(codes) == len(set(codes)), "two failures share an exit code"
    assert set(EXIT_MEANINGS) == {0, 2, 130, *codes}


def test_explain_names_the_kind_and_says_what_it_means() -> None:
    error = ConnectionRefused("connection refused by 127.0.0.1:9", url="ws://127.0.0.1:9/")
    assert explain(error) == "[connection_refused] conexão recusada: ninguém escuta nesse " \
                             "endereço e porta"
    assert exit_meaning(4) == MEANINGS["connection_refused"]
    assert "77" in exit_meaning(77)


def test_every_failure_has_its_exit_code_listed() -> None:
    listed = {code: kind for code, (kind, _summary) in EXIT_CODES.items()}
    for cls in error_classes():
        if cls is not ProbeError:
            assert listed.get(cls.exit_code) == cls.kind, cls.__name__
    assert set(EXIT_CODES) == set(EXIT_MEANINGS)


def test_the_page_lists_every_exit_code_with_its_kind_and_meaning() -> None:
    page = DOC.read_text(encoding="utf-8")
    for code, (kind, summary) in EXIT_CODES.items():
        kind_cell = f" `{kind}` " if kind else " "
        assert f"| {code} |{kind_cell}| {summary} |" in page, code
