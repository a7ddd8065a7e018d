"""The chat's web page inside notebook 03: its address, and the page itself twice, side by side.

:func:`two_tabs` returns an object that Jupyter shows as two frames of the page of a running
server (``text/html``), each its own tab with its own login, and elsewhere (a terminal, a
notebook viewer that strips frames) as the address to open in two browser tabs
(``text/plain``). It needs no IPython import: Jupyter asks any object for ``_repr_html_``.

The frames load ``http://localhost:PORT/``: JupyterLab usually runs at ``http://localhost:8888``,
and a frame of the same site keeps its ``sessionStorage`` (a browser that blocks third-party
storage would deny it to a frame of ``127.0.0.1``, and a reload would log the frames out). The
server must be bound to a loopback address, whose pages allow being framed by pages of this
machine (docs/decisions.md, "Framing"); each frame has a name, which the page uses to keep
its state apart from the other frame's.
"""

from __future__ import annotations

import html
from typing import Protocol

__all__ = ["FRAME_HEIGHT", "TwoTabs", "page_url", "two_tabs"]

#: Height of each frame, in CSS pixels: the login form, or a few messages above the input.
FRAME_HEIGHT = 560


class _Server(Protocol):
    """What a running chat server offers here (wschat.ServerThread does)."""

    @property
    def port(self) -> int: ...


def page_url(server: _Server) -> str:
    """The chat page of a server bound to loopback, as a browser on this machine opens it."""
    return f"http://localhost:{server.port}/"


class TwoTabs:
    """The page of one server, shown twice (Jupyter) or as its address (anywhere else)."""

    def __init__(self, url: str, height: int = FRAME_HEIGHT) -> None:
        self.url = url
        self.height = height
        self.names = ("wschat-aba-1", "wschat-aba-2")

    def _repr_html_(self) -> str:
        src = html.escape(self.url, quote=True)
        style = (f"flex:1 1 360px;min-width:0;height:{self.height}px;"
                 "border:1px solid #c9d1dc;border-radius:8px")
        frames = "".join(
            f'<iframe name="{name}" title="wschat, aba {n}" src="{src}" style="{style}"></iframe>'
            for n, name in enumerate(self.names, start=1)
        )
        return f'<div style="display:flex;flex-wrap:wrap;gap:12px">{frames}</div>'

    def __repr__(self) -> str:
        return f"abra {self.url} em duas abas do navegador"


def two_tabs(server: _Server, height: int = FRAME_HEIGHT) -> TwoTabs:
    """The page of ``server`` twice, side by side, as two tabs."""
    return TwoTabs(page_url(server), height)
