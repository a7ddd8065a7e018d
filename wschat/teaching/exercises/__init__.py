"""The notebooks' exercises: checkers a reader calls, and the verdict they give.

Each notebook has its module here (``concepts`` for 01, ``practice`` for 02, ``chat`` for 03,
``internals`` for 04, ``scale`` for 05), with one checker per exercise, named in Portuguese
because the reader calls it by name: ``verificar_<exercício>(resposta)``. A checker never
raises for a wrong or malformed answer: it returns a :class:`Verdict` that says, in Brazilian
Portuguese, whether the answer holds and, if not, a hint towards it (never the answer itself).
A notebook shows the verdict as the cell's result; ``bool(verdict)`` is whether it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Verdict", "correct", "not_yet"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an answer holds (``correct``), and what to tell the reader (``message``)."""

    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        mark = "✅ Certo!" if self.correct else "❌ Ainda não."
        return f"{mark} {self.message}"

    def __repr__(self) -> str:  # what a notebook cell shows
        return str(self)


def correct(message: str) -> Verdict:
    """The answer holds; ``message`` says why it matters (one or two sentences)."""
    return Verdict(True, message)


def not_yet(hint: str) -> Verdict:
    """The answer does not hold; ``hint`` points the way without giving the answer."""
    return Verdict(False, hint)
