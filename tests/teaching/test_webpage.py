"""wschat.teaching.webpage: notebook 03's two frames of the chat page, and its address.

The frames' HTML is read with the standard library's parser; that a browser really shows the
page in them (and keeps each frame's login) is tests/client/test_browser.py's
``test_a_page_of_this_machine_frames_the_chat_twice_and_each_frame_keeps_its_login``.
"""

from __future__ import annotations

from html.parser import HTMLParser

from chatkit import http_get

from wschat.server.thread import ServerThread
from wschat.teaching.webpage import FRAME_HEIGHT, page_url, two_tabs


class _Frames(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "iframe":
            self.frames.append(dict(attrs))


def frames_of(markup: str) -> list[dict[str, str | None]]:
    parser = _Frames()
    parser.feed(markup)
    return parser.frames


def test_two_frames_of_the_page_each_with_a_name_of_its_own() -> None:
    with ServerThread() as server:
        shown = two_tabs(server)
        url = page_url(server)
        assert url == f"http://localhost:{server.port}/"
        frames = frames_of(shown._repr_html_())
        assert [f["src"] for f in frames] == [url, url]
        names = [f["name"] for f in frames]
        assert len(set(names)) == 2 and all(names)
        assert all(f"height:{FRAME_HEIGHT}px" in (f["style"] or "") for f in frames)
        assert repr(shown) == f"abra {url} em duas abas do navegador"
        # The address answers with the page, and lets JupyterLab on localhost frame it.
        status, headers, body = http_get(url)
        assert status == 200 and b"Ver o protocolo" in body
        assert "http://localhost:*" in headers["Content-Security-Policy"]


def test_an_address_is_escaped_in_the_markup() -> None:
    class Odd:
        port = 8765

    shown = two_tabs(Odd(), height=300)
    shown.url = 'http://localhost:8765/?a="b"&c'
    frames = frames_of(shown._repr_html_())
    assert [f["src"] for f in frames] == [shown.url, shown.url]
    assert "height:300px" in (frames[0]["style"] or "")
