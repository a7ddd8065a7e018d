"""Draw the diagrams of docs/img/ with matplotlib (Agg, no pyplot).

    .venv/bin/python scripts/draw_diagrams.py [OUTDIR]      (default: docs/img/)

Writes handshake.png, close.png, polling-vs-push.png, replay-seam.png, reconnect-resume.png
(sequence diagrams), frame-header.png (a frame's header bit by bit) and cluster.png (notebook
05's architecture). Labels are in Brazilian Portuguese (the notebooks' language); wire tokens
and code are set in a monospace font. The output is deterministic: fixed sizes in
pixels, the fonts that ship with matplotlib (DejaVu), and no timestamp or software name in
the PNG metadata, so running the script again without changes gives the same bytes.

The drawing helper is tiny and works in pixels, origin at the top left, y growing downwards
(time flows down a sequence diagram): a :class:`Canvas` draws rich text (`code` in
backticks is monospace, **bold** in double asterisks, **`both`**), arrows, boxes and bands, and a
:class:`Sequence` adds lifelines and messages between them by lane name.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.offsetbox import AnnotationBbox, HPacker, OffsetBox, TextArea, VPacker
from matplotlib.patches import FancyArrowPatch, Rectangle

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "img"

DPI = 110
WIDTH = 1000  # pixels; every image has this width
SANS = "DejaVu Sans"
MONO = "DejaVu Sans Mono"
SIZE = 10.0  # points: body text (about 15 px at 110 dpi)
SMALL = 9.0
TITLE = 15.0

INK = "#1f2328"
MUTED = "#5b636b"
FAINT = "#9aa1a8"
CLIENT = "#1f5fa8"  # arrows sent by a client
SERVER = "#b4531a"  # arrows sent by the server
OTHER = "#2e7d4f"  # the message log
BAD = "#c62828"  # drops, 1006
NOTE_FILL, NOTE_EDGE = "#fff7d6", "#dcc36a"
WIRE_FILL, WIRE_EDGE = "#f3f5f8", "#c3cbd5"
BAND_FILL = "#f1f5fa"

HAlign = Literal["left", "center", "right"]
VAlign = Literal["top", "center", "bottom"]
_HFRAC: dict[str, float] = {"left": 0.0, "center": 0.5, "right": 1.0}
_VFRAC: dict[str, float] = {"bottom": 0.0, "center": 0.5, "top": 1.0}
_MARKUP = re.compile(r"(`[^`]*`|\*\*[^*]+\*\*)")


@dataclass(frozen=True)
class Box:
    """The frame drawn around a block of text: fill, edge and padding in points."""

    fill: str
    edge: str
    pad: float = 4.0
    rounded: bool = True


NOTE = Box(NOTE_FILL, NOTE_EDGE)
WIRE = Box(WIRE_FILL, WIRE_EDGE, rounded=False)
PLAIN = Box("white", "white", pad=1.5)  # a white patch that keeps arrows off the text


@dataclass(frozen=True)
class Extent:
    """Where a drawn thing ended up, in canvas pixels (y grows downwards)."""

    left: float
    top: float
    right: float
    bottom: float


class Canvas:
    """A white figure of fixed size whose data coordinates are its pixels, y pointing down."""

    def __init__(self, height: int, width: int = WIDTH) -> None:
        self.width, self.height = width, height
        self.fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0.0, 0.0, 1.0, 1.0))
        self.ax.set_xlim(0, width)
        self.ax.set_ylim(height, 0)
        self.ax.set_axis_off()

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = SIZE,
        color: str = INK,
        ha: HAlign = "center",
        va: VAlign = "center",
        align: HAlign | None = None,
        mono: bool = False,
        box: Box | None = None,
        z: float = 5,
    ) -> Extent:
        """Draw text with `code` and **bold** markup, one line per newline, anchored at (x, y).

        ``ha``/``va`` say which side of the block sits on (x, y); ``align`` aligns its lines
        (default: as ``ha``). ``mono`` sets the whole text in the monospace font.
        """
        lines: list[Artist] = [
            self._line(line, size=size, color=color, mono=mono) for line in text.split("\n")
        ]
        packed = VPacker(children=lines, align=align or ha, pad=0, sep=size * 0.28)
        frame: dict[str, object] = {}
        if box is not None:  # the boxstyle's sizes are in units of AnnotationBbox's fontsize
            pad = box.pad / 10
            style = f"round,pad={pad},rounding_size=0.35" if box.rounded else f"square,pad={pad}"
            frame = {"boxstyle": style, "facecolor": box.fill, "edgecolor": box.edge, "lw": 0.9}
        anchored = AnnotationBbox(
            packed,
            (x, y),
            xycoords="data",
            box_alignment=(_HFRAC[ha], _VFRAC[va]),
            frameon=box is not None,
            fontsize=10,
            bboxprops=frame,
            zorder=z,
            annotation_clip=False,
        )
        self.ax.add_artist(anchored)
        return self._extent(anchored)

    @staticmethod
    def _line(line: str, *, size: float, color: str, mono: bool) -> OffsetBox:
        """One line of text as packed runs of sans, monospace and bold."""
        runs: list[Artist] = []
        for part in _MARKUP.split(line) if not mono else [f"`{line}`"]:
            if not part:
                continue
            props: dict[str, object] = {"fontfamily": SANS, "fontsize": size, "color": color}
            if part.startswith("`") and part.endswith("`") and len(part) >= 2:
                part = part[1:-1]
                props.update(fontfamily=MONO, fontsize=size * 0.95)
            elif part.startswith("**") and part.endswith("**"):
                part = part[2:-2]
                props.update(fontweight="bold")
                if len(part) >= 2 and part.startswith("`") and part.endswith("`"):  # **`code`**
                    part = part[1:-1]
                    props.update(fontfamily=MONO, fontsize=size * 0.95)
            runs.append(TextArea(part or " ", textprops=props))
        if not runs:
            runs.append(TextArea(" ", textprops={"fontfamily": SANS, "fontsize": size}))
        return HPacker(children=runs, align="baseline", pad=0, sep=0)

    def _extent(self, artist: AnnotationBbox) -> Extent:
        """The artist's bounding box in canvas pixels."""
        bbox = artist.get_window_extent(self.fig.canvas.get_renderer())  # type: ignore[attr-defined]
        return Extent(bbox.x0, self.height - bbox.y1, bbox.x1, self.height - bbox.y0)

    def arrow(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        *,
        color: str = INK,
        width: float = 1.6,
        dashed: bool = False,
        head: bool = True,
        z: float = 3,
    ) -> None:
        """A straight arrow from (x0, y0) to (x1, y1); dashed for lighter traffic."""
        patch = FancyArrowPatch(
            (x0, y0),
            (x1, y1),
            arrowstyle="-|>" if head else "-",
            mutation_scale=13,
            color=color,
            lw=width,
            linestyle=(0, (5, 3)) if dashed else "solid",
            shrinkA=0,
            shrinkB=0,
            zorder=z,
        )
        self.ax.add_patch(patch)

    def line(
        self,
        xs: Seq[float],
        ys: Seq[float],
        *,
        color: str = INK,
        width: float = 1.0,
        dashed: bool = False,
        z: float = 2,
    ) -> None:
        """A polyline through the given points."""
        self.ax.plot(
            xs, ys, color=color, lw=width, linestyle=(0, (4, 3)) if dashed else "solid", zorder=z
        )

    def rect(
        self,
        left: float,
        top: float,
        right: float,
        bottom: float,
        *,
        fill: str = BAND_FILL,
        edge: str | None = None,
        dashed: bool = False,
        z: float = 0,
    ) -> None:
        """A rectangle given by its sides (for bands and panels)."""
        patch = Rectangle(
            (left, top),
            right - left,
            bottom - top,
            facecolor=fill,
            edgecolor=edge or fill,
            lw=0.9,
            linestyle=(0, (4, 3)) if dashed else "solid",
            zorder=z,
        )
        self.ax.add_patch(patch)

    def cross(self, x: float, y: float, *, size: float = 9, color: str = BAD) -> None:
        """An X marking something cut or lost."""
        self.line([x - size, x + size], [y - size, y + size], color=color, width=2.6, z=6)
        self.line([x - size, x + size], [y + size, y - size], color=color, width=2.6, z=6)

    def title(self, title: str, subtitle: str = "") -> None:
        """The image's title and a one-line subtitle at the top."""
        self.text(24, 16, f"**{title}**", size=TITLE, ha="left", va="top")
        if subtitle:
            self.text(24, 48, subtitle, size=SIZE, color=MUTED, ha="left", va="top")

    def save(self, path: Path) -> Path:
        """Write the PNG without metadata that would change from run to run."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fig.savefig(path, dpi=DPI, facecolor="white", metadata={"Software": None})
        return path


@dataclass(frozen=True)
class Lane:
    """One participant of a sequence diagram: its column and its heading."""

    x: float
    title: str
    subtitle: str = ""
    color: str = INK


@dataclass
class Sequence:
    """Lifelines hanging from headings, and the messages between them."""

    canvas: Canvas
    lanes: dict[str, Lane]
    top: float
    bottom: float

    def __post_init__(self) -> None:
        for lane in self.lanes.values():
            self.canvas.line(
                [lane.x, lane.x], [self.top + 22, self.bottom], color=FAINT, dashed=True, z=1
            )
            heading = f"**{lane.title}**" + (f"\n{lane.subtitle}" if lane.subtitle else "")
            self.canvas.text(
                lane.x, self.top, heading, color=lane.color, box=Box("white", lane.color), z=6
            )

    @classmethod
    def client_server(
        cls, canvas: Canvas, *, top: float, bottom: float, client: str = "", server: str = ""
    ) -> Sequence:
        """The usual two lifelines: a client on the left (lane "c"), a server on the right ("s")."""
        lanes = {
            "c": Lane(92, "Cliente", client, CLIENT),
            "s": Lane(908, "Servidor", server, SERVER),
        }
        return cls(canvas, lanes, top=top, bottom=bottom)

    def x(self, lane: str) -> float:
        """The column of a lane."""
        return self.lanes[lane].x

    def message(
        self,
        src: str,
        dst: str,
        y: float,
        label: str = "",
        *,
        travel: float = 0,
        color: str | None = None,
        dashed: bool = False,
        lost_at: float | None = None,
        size: float = SIZE,
        label_at: float | None = 0.5,
    ) -> float:
        """An arrow from ``src`` to ``dst`` leaving at ``y`` and arriving ``travel`` px lower,
        with its label just above it, centred at ``label_at`` (0-1) of the way, or (``None``)
        starting at the sender, which keeps labels of slanted arrows off their own line.
        ``lost_at`` (0-1) cuts the arrow there with an X. Returns the y where it arrives."""
        x0, x1 = self.x(src), self.x(dst)
        colour = color or self.lanes[src].color
        if lost_at is None:
            self.canvas.arrow(x0, y, x1, y + travel, color=colour, dashed=dashed)
        else:
            xe, ye = x0 + (x1 - x0) * lost_at, y + travel * lost_at
            self.canvas.arrow(x0, y, xe, ye, color=colour, dashed=dashed, head=False)
            self.canvas.cross(xe, ye)
        if not label:
            return y + travel
        if label_at is None:
            right = x1 > x0
            xl = x0 + (12 if right else -12)
            ha: HAlign = "left" if right else "right"
            self.canvas.text(
                xl, y - 4, label, size=size, color=colour, ha=ha, va="bottom", align=ha
            )
        else:
            xl = x0 + (x1 - x0) * label_at
            yl = y + travel * label_at - 4
            self.canvas.text(xl, yl, label, size=size, color=colour, va="bottom")
        return y + travel

    def note(
        self,
        lane: str,
        y: float,
        text: str,
        *,
        side: Literal["left", "right", "over"] = "over",
        box: Box = NOTE,
        size: float = SMALL,
        color: str = INK,
        va: VAlign = "top",
    ) -> Extent:
        """A note on a lifeline: centred over it, or just to its left or right."""
        x = self.x(lane)
        if side == "over":
            return self.canvas.text(
                x, y, text, size=size, color=color, box=box, va=va, align="left"
            )
        gap = 12 if side == "right" else -12
        ha: HAlign = "left" if side == "right" else "right"
        return self.canvas.text(
            x + gap, y, text, size=size, color=color, box=box, ha=ha, va=va, align="left"
        )

    def band(self, top: float, bottom: float, label: str, *, fill: str = BAND_FILL) -> None:
        """A shaded strip across the whole width with a label in its top-left corner."""
        self.canvas.rect(0, top, self.canvas.width, bottom, fill=fill)
        self.canvas.text(12, top + 5, label, size=SMALL, color=MUTED, ha="left", va="top", z=4)


# ---------------------------------------------------------------------------------------------
# 1. handshake.png


def draw_handshake(out: Path) -> Path:
    """The opening handshake to the letter of RFC 6455 (§1.3, §4.1, §4.2.2), then frames."""
    canvas = Canvas(height=1030)
    canvas.title(
        "O handshake de abertura do WebSocket (RFC 6455)",
        "Uma conexão TCP que começa como HTTP/1.1 e, depois do `101`, passa a levar quadros WebSocket.",
    )
    seq = Sequence.client_server(
        canvas, top=102, bottom=1012, client="navegador ou script", server="wschat em `/ws`"
    )
    c, s = seq.x("c"), seq.x("s")

    seq.band(136, 276, "1. conexão TCP (porta padrão: 443 em `wss://`, 80 em `ws://`)")
    y = seq.message("c", "s", 166, "`SYN`", travel=12, size=SMALL, color=MUTED)
    y = seq.message("s", "c", y + 20, "`SYN-ACK`", travel=12, size=SMALL, color=MUTED)
    seq.message("c", "s", y + 20, "`ACK`", travel=12, size=SMALL, color=MUTED)
    canvas.rect(c + 30, 244, s - 30, 268, fill="white", edge=FAINT, dashed=True, z=1)
    canvas.text(
        (c + s) / 2,
        256,
        "só em `wss://`: aqui vem o handshake TLS, antes de qualquer byte de HTTP",
        size=SMALL,
        color=MUTED,
    )

    seq.band(282, 724, "2. a requisição HTTP de Upgrade e a resposta 101")
    seq.message("c", "s", 326, "requisição HTTP/1.1 (texto puro; em `wss://`, dentro do TLS)")
    lines = [
        ("GET /ws HTTP/1.1", "o método é `GET`, em HTTP/1.1 ou mais novo"),
        ("Host: chat.exemplo.com.br", "obrigatório, como em todo HTTP/1.1"),
        ("Upgrade: websocket", "pede a troca de protocolo..."),
        ("Connection: Upgrade", "...e avisa que é esta conexão que vai mudar"),
        (
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "16 bytes sorteados a cada conexão, em base64",
        ),
        ("Sec-WebSocket-Version: 13", "a versão definida pela RFC 6455"),
        ("Origin: https://chat.exemplo.com.br", "os navegadores enviam; o servidor pode dar `403`"),
    ]
    request = canvas.text(
        c + 24,
        338,
        "\n".join(line for line, _ in lines),
        mono=True,
        ha="left",
        va="top",
        box=WIRE,
    )
    pad = WIRE.pad * DPI / 72
    row = (request.bottom - request.top - 2 * pad) / len(lines)
    for i, (_, note) in enumerate(lines):
        canvas.text(
            request.right + 14,
            request.top + pad + row * (i + 0.5),
            "← " + note,
            size=SMALL,
            color=MUTED,
            ha="left",
            va="center",
        )

    accept = canvas.text(
        (c + s) / 2,
        request.bottom + 18,
        "o servidor confere os cabeçalhos e calcula:\n"
        '`Sec-WebSocket-Accept = base64( SHA-1( key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" ) )`\n'
        "`                     = s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`",
        size=SMALL,
        va="top",
        align="left",
        box=NOTE,
    )
    y = accept.bottom + 38
    seq.message("s", "c", y, "resposta: a partir dela, a conexão deixa de ser HTTP")
    response = canvas.text(
        s - 24,
        y + 12,
        "HTTP/1.1 101 Switching Protocols\n"
        "Upgrade: websocket\n"
        "Connection: Upgrade\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        mono=True,
        ha="right",
        va="top",
        align="left",
        box=WIRE,
    )
    canvas.text(
        response.left - 16,
        response.top + 2,
        "`101`: trocando de protocolo.\n"
        "Em HTTP/1.1, qualquer outro status (`200`,\n"
        "`403`, `404`...) quer dizer que não houve WebSocket.",
        size=SMALL,
        color=MUTED,
        ha="right",
        va="top",
    )
    seq.note(
        "c",
        response.bottom + 16,
        "o cliente faz a mesma conta com a key que enviou;\n"
        "se o `Sec-WebSocket-Accept` não bater, ele desiste",
        side="right",
    )

    seq.band(
        736, 1002, "3. daqui em diante, quadros WebSocket nos dois sentidos, na mesma conexão TCP"
    )
    y = seq.message(
        "c", "s", 794, "quadro de texto: `FIN=1  opcode=0x1  MASK=1` + chave de máscara de 4 bytes"
    )
    canvas.text(
        (c + s) / 2,
        y + 8,
        "cliente → servidor: **sempre mascarado** (uma chave nova a cada quadro)",
        size=SMALL,
        color=MUTED,
        va="top",
    )
    y = seq.message("s", "c", 870, "quadro de texto: `FIN=1  opcode=0x1  MASK=0`")
    canvas.text(
        (c + s) / 2,
        y + 8,
        "servidor → cliente: **nunca mascarado**",
        size=SMALL,
        color=MUTED,
        va="top",
    )
    y = seq.message(
        "s",
        "c",
        940,
        "`ping` (opcode `0x9`): controle, mantém a conexão viva e mede a ida e volta",
        size=SMALL,
        dashed=True,
    )
    seq.message(
        "c",
        "s",
        y + 36,
        "`pong` (opcode `0xA`), mascarado como todo quadro do cliente",
        size=SMALL,
        dashed=True,
    )
    return canvas.save(out / "handshake.png")


# ---------------------------------------------------------------------------------------------
# 2. close.png


def draw_close(out: Path) -> Path:
    """The close handshake (RFC 6455 §1.4, §5.5.1, §7.1.1, §7.4.1), an empty Close, and a drop."""
    canvas = Canvas(height=975)
    canvas.title(
        "O fechamento do WebSocket: o handshake de Close (RFC 6455)",
        "Um lado envia `Close`, o outro responde com `Close`, e só então o TCP fecha, pelo servidor primeiro.",
    )
    seq = Sequence.client_server(canvas, top=96, bottom=960)
    c, s = seq.x("c"), seq.x("s")

    seq.band(120, 560, "1. fechamento normal: aqui o cliente começa (o servidor também poderia)")
    y0 = 172
    seq.message(
        "c",
        "s",
        y0,
        '`Close` (opcode `0x8`): código `1000` + motivo `"tchau"`',
        travel=56,
        label_at=None,
    )
    seq.message(
        "s",
        "c",
        y0 + 8,
        "um quadro de texto que já estava a caminho",
        travel=56,
        label_at=None,
        size=SMALL,
    )
    seq.note(
        "c",
        y0 + 74,
        "depois de enviar `Close`, não envia mais dados;\n"
        "o que já vinha ainda pode chegar, mas a RFC\n"
        "não garante que quem fechou vá processá-lo",
        side="right",
    )
    seq.note(
        "s",
        y0 + 74,
        "recebeu `Close`: responde com `Close` assim\n"
        "que puder (em geral ecoando o código)\n"
        "e, a partir daí, não envia mais nada",
        side="left",
    )
    y = seq.message("s", "c", 332, "`Close`: código `1000`")
    y = seq.message(
        "s",
        "c",
        y + 44,
        "`FIN`: o servidor fecha o TCP primeiro e fica com o `TIME_WAIT` (§7.1.1)",
        travel=10,
        color=MUTED,
        size=SMALL,
    )
    y = seq.message(
        "c",
        "s",
        y + 24,
        "`FIN`: o cliente espera pelo FIN do servidor e então fecha o seu",
        travel=10,
        color=MUTED,
        size=SMALL,
    )
    seq.note("c", y + 16, "fechado: `1000`", side="right", size=SIZE)
    seq.note("s", y + 16, "fechado: `1000`", side="left", size=SIZE)
    canvas.text(
        (c + s) / 2,
        482,
        "**Receber** `Close` **quer dizer: o outro lado não vai enviar mais nada.**\n"
        "Não quer dizer que a aplicação dele processou tudo o que você enviou: confirmar\n"
        "entrega é trabalho do seu protocolo (no wschat, os ids das mensagens e o `ref`).",
        size=SIZE,
        va="top",
        box=Box("white", NOTE_EDGE, pad=6),
    )

    seq.band(570, 740, "2. `Close` com o corpo vazio (o código é opcional)")
    y = seq.message("c", "s", 618, "`Close` sem corpo (nem código, nem motivo)")
    seq.note("s", y + 10, "reporta `1005`: nenhum código veio", side="left", size=SIZE)
    y = seq.message("s", "c", y + 64, "`Close` sem corpo")
    seq.note("c", y + 10, "reporta `1005`", side="right", size=SIZE)

    seq.band(
        750, 955, "3. sem `Close`: a conexão TCP cai (Wi-Fi, cabo, processo morto)", fill="#fbf0f0"
    )
    seq.message("c", "s", 802, "quadro de texto", lost_at=0.55, label_at=0.25)
    canvas.text(c + (s - c) * 0.55, 822, "a rede caiu", size=SMALL, color=BAD, va="top")
    seq.note(
        "c",
        846,
        "descobre por um erro de leitura ou\nescrita, ou por um `ping` sem `pong`:\nreporta `1006` (fechamento anormal)",
        side="right",
        size=SMALL,
    )
    seq.note(
        "s",
        846,
        "descobre do mesmo jeito, sozinho:\ntambém reporta `1006`",
        side="left",
        size=SMALL,
    )
    canvas.text(
        (c + s) / 2,
        942,
        "`1005` e `1006` são reservados: cada lado os reporta para si, mas nenhum deles viaja num quadro `Close` (§7.4.1).",
        size=SMALL,
        color=INK,
        va="bottom",
    )
    return canvas.save(out / "close.png")


# ---------------------------------------------------------------------------------------------
# 3. polling-vs-push.png


@dataclass(frozen=True)
class Timeline:
    """Time running left to right: ``x(t)`` places a time given in polling intervals."""

    canvas: Canvas
    start: float  # x of t = 0
    unit: float  # pixels per interval I

    def x(self, t: float) -> float:
        """The column of time ``t`` (in intervals)."""
        return self.start + t * self.unit

    def lane(self, y: float, title: str, color: str) -> None:
        """A horizontal lifeline with its name on the left."""
        self.canvas.line([self.start - 16, self.canvas.width - 24], [y, y], color=FAINT, width=1.2)
        self.canvas.text(self.start - 28, y, f"**{title}**", color=color, ha="right")

    def bracket(self, t0: float, t1: float, y: float, label: str, *, color: str = INK) -> None:
        """A span from t0 to t1 drawn as |---| at ``y`` with its label above."""
        x0, x1 = self.x(t0), self.x(t1)
        self.canvas.line([x0, x0, x1, x1], [y + 5, y, y, y + 5], color=color, width=1.4, z=4)
        self.canvas.text((x0 + x1) / 2, y - 4, label, size=SMALL, color=color, va="bottom")

    def event(self, t: float, y: float) -> None:
        """A star where something happens."""
        self.canvas.ax.plot(
            [self.x(t)],
            [y],
            marker="*",
            markersize=17,
            color=BAD,
            zorder=7,
            markeredgecolor="white",
            markeredgewidth=0.8,
        )


def draw_polling_vs_push(out: Path) -> Path:
    """REST polling at interval I against WebSocket push, on one time axis."""
    canvas = Canvas(height=690)
    canvas.title(
        "Polling REST versus push por WebSocket: quando o cliente fica sabendo",
        "A mesma mensagem chega ao servidor no mesmo instante (★); muda o caminho até o cliente.",
    )
    time = Timeline(canvas, start=150, unit=190)
    rtt = 0.24  # one round trip, in intervals: much longer than real life, to be visible
    half = rtt / 2
    event = 1.35
    for k in range(5):
        canvas.line([time.x(k)] * 2, [104, 592], color="#e3e6ea", width=1.0, z=0)

    # Polling: a request every I; the answer leaves at once and is almost always empty.
    canvas.text(
        24,
        100,
        "**REST com polling**: o cliente pergunta a cada intervalo `I`",
        ha="left",
        va="top",
    )
    client, server = 168, 262
    time.lane(client, "Cliente", CLIENT)
    time.lane(server, "Servidor", SERVER)
    for k in range(5):
        t = float(k)
        canvas.arrow(time.x(t), client, time.x(t + half), server, color=CLIENT, width=1.3)
        got = k == 2
        canvas.arrow(
            time.x(t + half),
            server,
            time.x(t + rtt),
            client,
            color=SERVER,
            width=2.2 if got else 1.1,
            dashed=not got,
        )
        canvas.text(
            time.x(t + rtt) + 3,
            client - 6,
            "**`[42]`**" if got else "`[]`",
            size=SMALL,
            color=SERVER if got else MUTED,
            ha="left",
            va="bottom",
        )
    time.event(event, server)
    canvas.line([time.x(event), time.x(2 + half)], [server + 7] * 2, color=BAD, width=3, z=4)
    canvas.text(
        (time.x(event) + time.x(2 + half)) / 2,
        server + 12,
        "a mensagem espera o\npróximo pedido",
        size=SMALL,
        color=BAD,
        va="top",
    )
    time.bracket(
        event, 2 + rtt, client - 36, "atraso: em média ≈ `I/2 + RTT/2`, até `I + RTT/2`", color=BAD
    )
    canvas.text(
        24,
        324,
        "Cada pedido é um `GET /events?after=41` completo (cabeçalhos, talvez um TCP novo);"
        " quase todos voltam vazios (`200 []`).",
        size=SMALL,
        color=MUTED,
        ha="left",
        va="top",
    )

    # Push: one connection, opened once; the server writes the message as soon as it exists.
    canvas.text(
        24,
        360,
        "**WebSocket**: o servidor envia assim que a mensagem existe (push)",
        ha="left",
        va="top",
    )
    client, server = 436, 528
    canvas.rect(time.x(0) - 16, client + 10, canvas.width - 24, server - 10, fill="#eef4fb")
    canvas.text(
        time.x(0),
        client + 18,
        "uma só conexão, aberta\no tempo todo (um único\nhandshake, lá no começo)",
        size=SMALL,
        color=MUTED,
        ha="left",
        va="top",
    )
    time.lane(client, "Cliente", CLIENT)
    time.lane(server, "Servidor", SERVER)
    time.event(event, server)
    canvas.arrow(time.x(event), server, time.x(event + half), client, color=SERVER, width=2.2, z=5)
    canvas.text(
        time.x(event + half) + 6,
        client - 6,
        '**`{"type": "message", "id": "42", …}`**',
        size=SMALL,
        color=SERVER,
        ha="left",
        va="bottom",
    )
    time.bracket(event, event + half, client - 34, "atraso ≈ `RTT/2`", color=BAD)
    canvas.arrow(
        time.x(2.7), server, time.x(2.7 + half), client, color=FAINT, width=1.0, dashed=True
    )
    canvas.arrow(
        time.x(2.7 + half), client, time.x(2.7 + rtt), server, color=FAINT, width=1.0, dashed=True
    )
    canvas.text(
        time.x(2.7 + rtt) + 10,
        server - 34,
        "`ping`/`pong` de vez em quando,\nsó para manter a conexão viva",
        size=SMALL,
        color=MUTED,
        ha="left",
        va="center",
    )

    axis = 600
    canvas.arrow(time.x(0) - 16, axis, canvas.width - 24, axis, color=INK, width=1.0)
    for k in range(5):
        canvas.line([time.x(k)] * 2, [axis - 5, axis + 5], color=INK, width=1.0)
        canvas.text(
            time.x(k), axis + 9, "0" if k == 0 else ("`I`" if k == 1 else f"`{k}I`"), va="top"
        )
    canvas.text(
        canvas.width - 24, axis - 8, "tempo", size=SMALL, color=MUTED, ha="right", va="bottom"
    )
    canvas.text(
        24,
        648,
        "`I` = intervalo do polling; `RTT` = ida e volta na rede. Aqui o `RTT` está exagerado para"
        " aparecer:\nna vida real ele é de milissegundos, e `I`, de segundos.",
        size=SMALL,
        color=MUTED,
        ha="left",
        va="center",
        align="left",
    )
    return canvas.save(out / "polling-vs-push.png")


# ---------------------------------------------------------------------------------------------
# 4. replay-seam.png

THIRD = "#6a4c93"  # another user's connection


def frame(kind: str, msg_id: str) -> str:
    """A compact server frame label, e.g. ``{"type": "message", "id": "41", …}``."""
    return f'`{{"type": "{kind}", "id": "{msg_id}", …}}`'


def draw_replay_seam(out: Path) -> Path:
    """The replay/live seam of wschat's server (wschat/server/catchup.py, ``CatchUp.run``)."""
    canvas = Canvas(height=1050)
    canvas.title(
        "Do replay às mensagens novas: nada perdido, nada em dobro",
        "Ana volta pedindo o que veio depois do id 40; enquanto o servidor faz o replay, chegam as mensagens 44 e 45.",
    )
    seq = Sequence(
        canvas,
        {
            "ana": Lane(84, "ana", "cliente", CLIENT),
            "srv": Lane(540, "servidor", "sessão da Ana", SERVER),
            "log": Lane(765, "log", "gravado em ordem", OTHER),
            "joao": Lane(932, "joao", "outra conexão", THIRD),
        },
        top=102,
        bottom=1035,
    )

    def buffer(y: float, content: str) -> None:
        seq.note("srv", y, f"buffer: `{content}`", side="left", size=SIZE, box=WIRE)

    seq.band(
        136, 280, "(a) registrar primeiro: a sessão já recebe cada mensagem nova, mas guardada num buffer"
    )
    seq.message(
        "ana",
        "srv",
        196,
        '`{"type": "login", "user": "ana", "token": "…",`\n'
        '` "resume": {"epoch": "e-71b2", "after": "40"}}`',
        label_at=None,
        size=SMALL,
    )
    seq.note(
        "srv", 206, "registra a sessão para as mensagens novas;\no que chegar vai para o buffer", side="left"
    )
    buffer(246, "[ ]")

    seq.band(
        290, 760, "(b) replay: ler o log depois de 40 até o ponto atual (`last`) e enviar, em ordem"
    )
    seq.message("joao", "log", 330, '`send "boa!"`', size=SMALL)
    seq.note("log", 336, "grava o **44**", side="left", box=PLAIN, color=OTHER, size=SIZE)
    seq.message("log", "srv", 392, "ao vivo: **44**", size=SMALL)
    buffer(382, "[44]")
    seq.message("srv", "log", 440, "lê `last` e o que vem\ndepois de 40 até ele", size=SMALL)
    seq.message("log", "srv", 474, "**41 42 43 44**  (`last` = 44)", size=SMALL)
    seq.message(
        "srv",
        "ana",
        516,
        '`{"type": "welcome", …, "last": "44", "recovered": true, …}`',
        label_at=None,
        size=SMALL,
    )
    seq.message("srv", "ana", 552, frame("message", "41"), label_at=None, size=SMALL)
    seq.message("srv", "ana", 586, frame("message", "42"), label_at=None, size=SMALL)
    seq.message("joao", "log", 600, '`send "e aí?"`', size=SMALL)
    seq.note("log", 606, "grava o **45**", side="left", box=PLAIN, color=OTHER, size=SIZE)
    seq.message("log", "srv", 660, "ao vivo: **45**", size=SMALL)
    buffer(650, "[44, 45]")
    seq.message("srv", "ana", 696, frame("message", "43"), label_at=None, size=SMALL)
    seq.message("srv", "ana", 730, frame("message", "44"), label_at=None, size=SMALL)
    seq.note("ana", 738, "id 44 = `last`: o replay acabou", side="right", box=PLAIN, color=MUTED)

    seq.band(770, 920, "(c) esvaziar o buffer, pulando os ids que o replay já cobriu (até `last`)")
    seq.note(
        "srv",
        800,
        "**44** ≤ `last`: pula (já foi no replay)\n**45** > `last`: envia",
        side="left",
        size=SIZE,
    )
    seq.message("srv", "ana", 872, frame("message", "45"), label_at=None, size=SMALL)
    seq.note(
        "srv",
        884,
        "buffer vazio: daqui em diante, as novas vão direto",
        side="right",
        box=PLAIN,
        color=MUTED,
    )

    canvas.text(
        500,
        936,
        "**Ana recebe 41 42 43 44 45: cada uma uma única vez, em ordem.**\n"
        "Por que nessa ordem? Registrar **antes** de ler o log garante que toda mensagem nova está no log lido,\n"
        "no buffer ou nos dois. Se registrasse depois, uma mensagem gravada entre a leitura e o registro\n"
        "não estaria em nenhum dos dois: perdida. E sem pular os ids até `last`, a 44 chegaria duas vezes.",
        size=SIZE,
        va="top",
        align="left",
        box=Box("white", NOTE_EDGE, pad=6),
    )
    return canvas.save(out / "replay-seam.png")


# ---------------------------------------------------------------------------------------------
# 5. reconnect-resume.png


def draw_reconnect_resume(out: Path) -> Path:
    """A drop, a reconnect with backoff, and a resume with the frames of docs/PROTOCOL.md."""
    canvas = Canvas(height=1250)
    canvas.title(
        "Cair e voltar: reconectar e retomar (resume) sem perder nem duplicar",
        "Os quadros são os de `docs/PROTOCOL.md`; o `…` esconde campos que não importam aqui.",
    )
    seq = Sequence(
        canvas,
        {
            "ana": Lane(84, "ana", "cliente", CLIENT),
            "srv": Lane(640, "servidor", "wschat", SERVER),
            "joao": Lane(915, "joao", "outra conexão", THIRD),
        },
        top=102,
        bottom=1236,
    )
    send = '`{"type": "send", "text": "alguém aí?", "ref": "c-7"}`'

    seq.band(136, 376, "1. conectada: Ana guarda o `token`, a `epoch` e o último id que viu")
    seq.message("srv", "ana", 184, frame("message", "42"), label_at=None, size=SMALL)
    seq.note("ana", 192, "guarda: `token`, `epoch` = `e-71b2`, último id = **42**", side="right")
    seq.message("ana", "srv", 254, send, label_at=None, size=SMALL)
    seq.note(
        "ana",
        262,
        "o `c-7` fica na caixa de saída até\nvoltar um quadro com esse `ref`",
        side="right",
    )
    seq.note("srv", 262, "grava como **43**", side="right", size=SIZE)
    seq.message(
        "srv",
        "ana",
        340,
        '`{"type": "message", "id": "43", …, "ref": "c-7"}`',
        label_at=None,
        size=SMALL,
        lost_at=0.75,
    )
    canvas.text(
        seq.x("ana") + (seq.x("srv") - seq.x("ana")) * 0.25,
        356,
        "a resposta se perde",
        size=SMALL,
        color=BAD,
        va="top",
    )

    seq.band(386, 556, "2. a conexão cai sem `Close`", fill="#fbf0f0")
    seq.note(
        "ana",
        416,
        "TCP caiu sem `Close`: reporta `1006`\n(fechamento anormal) e vai reconectar",
        side="right",
    )
    seq.note("srv", 416, "também percebe a queda\n(erro, ou `ping` sem `pong`)", side="left")
    seq.message("joao", "srv", 490, '`send "voltei"`', size=SMALL)
    seq.message("joao", "srv", 526, '`send "tudo bem?"`', size=SMALL)
    seq.note("srv", 486, "grava **44** e **45**", side="left", size=SIZE, box=PLAIN, color=THIRD)
    seq.note(
        "ana",
        478,
        "espera um tempo sorteado, que cresce\na cada tentativa (backoff exponencial\ncom jitter), e tenta de novo",
        side="right",
    )

    seq.band(566, 1002, "3. reconecta e pede o que perdeu (`resume`)")
    seq.message(
        "ana",
        "srv",
        622,
        "nova conexão: TCP (+ TLS) e o handshake HTTP até o `101`",
        color=MUTED,
        dashed=True,
        size=SMALL,
    )
    seq.message(
        "ana",
        "srv",
        690,
        '`{"type": "login", "user": "ana", "token": "…",`\n'
        '` "resume": {"epoch": "e-71b2", "after": "42"}}`',
        label_at=None,
        size=SMALL,
    )
    seq.note("srv", 698, "mesma `epoch`, e o log ainda\ntem o 42: dá para retomar", side="right")
    seq.message(
        "srv",
        "ana",
        764,
        '`{"type": "welcome", …, "last": "45", "recovered": true, …}`',
        label_at=None,
        size=SMALL,
    )
    seq.message(
        "srv", "ana", 798, frame("message", "43") + "  (sem `ref`)", label_at=None, size=SMALL
    )
    seq.message("srv", "ana", 832, frame("message", "44"), label_at=None, size=SMALL)
    seq.message("srv", "ana", 866, frame("message", "45"), label_at=None, size=SMALL)
    seq.note("ana", 874, "id 45 = `last`: o replay acabou", side="right", box=PLAIN, color=MUTED)
    seq.note(
        "srv", 798, "replay: só o que veio\ndepois do 42, em ordem,\numa vez cada", side="right"
    )
    seq.message("ana", "srv", 934, send, label_at=None, size=SMALL)
    seq.note(
        "ana",
        942,
        "reenvia o que ficou sem resposta, com o mesmo `ref`",
        side="right",
        box=PLAIN,
        color=MUTED,
    )
    seq.note(
        "srv", 934, "`c-7` já foi aceito:\nnão grava de novo,\ndevolve o original", side="right"
    )

    seq.band(1012, 1124, "4. de volta ao vivo")
    seq.message(
        "srv",
        "ana",
        1058,
        '`{"type": "message", "id": "43", …, "ref": "c-7"}`',
        label_at=None,
        size=SMALL,
    )
    seq.note(
        "ana",
        1066,
        "a 43 já está na tela: vale como confirmação do envio, não como mensagem nova",
        side="right",
        box=PLAIN,
        color=MUTED,
    )
    seq.message("srv", "ana", 1112, frame("message", "46") + "  ao vivo", label_at=None, size=SMALL)

    canvas.text(
        500,
        1138,
        "**Sem perda:** o `resume` pede tudo o que veio depois do último id visto (42).\n"
        "**Sem duplicata:** o servidor envia cada id uma única vez (o replay começa no 43), e o `ref`\n"
        'impede que o reenvio seja gravado de novo: "alguém aí?" existe uma vez só, como a 43.\n'
        'A resposta a um reenvio que já está na tela só confirma o envio; fora isso, nenhum id se repete.',
        size=SIZE,
        va="top",
        align="left",
        box=Box("white", NOTE_EDGE, pad=6),
    )
    return canvas.save(out / "reconnect-resume.png")


# ---------------------------------------------------------------------------------------------
# 6. frame-header.png

HEADER_FILL = "#e3edf9"  # the 2 bytes every frame has
LENGTH_FILL = "#fbe9dc"  # extended payload length
KEY_FILL = "#e2f1e7"  # masking key


def draw_frame_header(out: Path) -> Path:
    """A frame's header bit by bit, as RFC 6455 §5.2 and MDN draw it: 32 bits a row."""
    canvas = Canvas(height=700)
    canvas.title(
        "O quadro WebSocket, bit a bit (RFC 6455, §5.2)",
        "Cada linha tem 32 bits (4 bytes), lidos da esquerda para a direita;"
        " os campos tracejados só existem em alguns quadros.",
    )
    left, bit, row = 104, 27, 60  # x of bit 0; pixels per bit; pixels per row of 32 bits
    top = 132

    def x(b: float) -> float:
        return left + b * bit

    for byte in range(4):
        canvas.text(x(byte * 8 + 4), 88, f"{byte + 1}º byte da linha", size=SMALL, color=MUTED)
    for b in range(32):
        canvas.text(x(b + 0.5), 112, str(b), size=7.5, color=MUTED)
    canvas.text(left - 12, 112, "bit", size=SMALL, color=MUTED, ha="right")

    def field(r: int, b0: int, b1: int, label: str, fill: str, *, optional: bool = False,
              vertical: bool = False, open_bottom: bool = False) -> None:
        y0 = top + r * row
        edge = MUTED if not optional else FAINT
        canvas.rect(x(b0), y0, x(b1), y0 + row, fill=fill, edge=edge, dashed=optional, z=1)
        if open_bottom:  # the payload goes on: no bottom edge
            canvas.rect(x(b0) + 1, y0 + row - 2, x(b1) - 1, y0 + row + 2, fill="white", z=2)
        if vertical:
            canvas.ax.text(x((b0 + b1) / 2), y0 + row / 2, label, rotation=90, ha="center",
                           va="center", fontfamily=MONO, fontsize=SMALL * 0.95, color=INK, zorder=5)
        else:
            canvas.text(x((b0 + b1) / 2), y0 + row / 2, label, size=SMALL, align="center")

    for r, span in enumerate(("0 a 3", "4 a 7", "8 a 11", "12 a 15", "16…")):
        canvas.text(left - 12, top + r * row + row / 2, f"bytes\n{span}", size=SMALL,
                    color=MUTED, ha="right", align="right")

    for b, name in enumerate(("FIN", "RSV1", "RSV2", "RSV3")):
        field(0, b, b + 1, name, HEADER_FILL, vertical=True)
    field(0, 4, 8, "`opcode`\n(4)", HEADER_FILL)
    field(0, 8, 9, "MASK", HEADER_FILL, vertical=True)
    field(0, 9, 16, "`payload len`\n(7)", HEADER_FILL)
    field(0, 16, 32, "tamanho estendido (16 ou 64 bits)\nsó se `payload len` = 126 ou 127",
          LENGTH_FILL, optional=True)
    field(1, 0, 32, "tamanho estendido, continuação: só se `payload len` = 127\n"
          "(dos 64 bits, o mais significativo é sempre 0)", LENGTH_FILL, optional=True)
    field(2, 0, 16, "tamanho estendido, continuação", LENGTH_FILL, optional=True)
    field(2, 16, 32, "chave de máscara (32 bits)\nsó se `MASK` = 1", KEY_FILL, optional=True)
    field(3, 0, 16, "chave de máscara, continuação", KEY_FILL, optional=True)
    field(3, 16, 32, "payload (os dados)", WIRE_FILL)
    field(4, 0, 32, "payload, continuação…", WIRE_FILL, open_bottom=True)

    # The greeting's first two bytes, bit under bit, with the field each one belongs to.
    y = top + 5 * row + 34
    canvas.text(24, y, "**Exemplo:** `81 15`, os dois primeiros bytes da saudação"
                " `Olá mundo! LTIS 2025` (um quadro de texto do servidor)", ha="left", va="top")
    wide = 50  # pixels per bit in the example

    def ex(b: float) -> float:
        return left + b * wide

    cells = y + 34
    for b, value in enumerate(f"{0x81:08b}{0x15:08b}"):
        canvas.rect(ex(b), cells, ex(b + 1), cells + 32, fill=HEADER_FILL, edge=MUTED, z=1)
        canvas.text(ex(b + 0.5), cells + 16, f"**`{value}`**", size=SIZE + 1)
    for b0, b1, label in (
        (0, 1, "`FIN` = 1\núltimo\nquadro"),
        (1, 4, "`RSV1-3` = 000\nsem extensão"),
        (4, 8, "`opcode` = `0x1`\ntexto"),
        (8, 9, "`MASK` = 0\nsem\nmáscara"),
        (9, 16, "`payload len` = `0010101` = 21\n21 bytes de payload,\nsem tamanho estendido"),
    ):
        canvas.line([ex(b0) + 3, ex(b0) + 3, ex(b1) - 3, ex(b1) - 3],
                    [cells + 38, cells + 44, cells + 44, cells + 38], color=CLIENT, width=1.2)
        canvas.text(ex((b0 + b1) / 2), cells + 52, label, size=SMALL, color=CLIENT, va="top")
    canvas.text(
        500, cells + 124,
        "Cabeçalho: **de 2 a 14 bytes em cada quadro** = 2 fixos + 0, 2 ou 8 de tamanho estendido"
        " + 0 ou 4 da chave de máscara.\n"
        "A figura de cima mostra o caso mais longo (`payload len` = 127 e `MASK` = 1);"
        " nos outros, cada campo começa logo depois do anterior.",
        size=SMALL, va="top", align="left", box=NOTE,
    )
    return canvas.save(out / "frame-header.png")


# ---------------------------------------------------------------------------------------------
# 7. cluster.png


def draw_cluster(out: Path) -> Path:
    """Notebook 05's architecture: clients, a load balancer, two ``wschat serve --redis`` nodes,
    and the Redis stream that is both the log and the bus (wschat/cluster/)."""
    canvas = Canvas(height=700)
    canvas.title(
        "Vários processos do wschat com um Redis no meio",
        "Cada nó grava no mesmo stream e lê dele tudo o que foi gravado, por ele e pelos outros.",
    )
    clients = [(190, "Ana"), (500, "João (aba 1)"), (810, "João (aba 2)")]
    for x, name in clients:
        canvas.text(x, 112, f"**{name}**\nnavegador ou app", color=CLIENT,
                    box=Box("white", CLIENT, pad=6), align="center")
    balancer = canvas.text(500, 214, "**balanceador de carga**: distribui as conexões entre os nós",
                           box=Box(BAND_FILL, FAINT, pad=7))
    for x, _ in clients:
        canvas.arrow(x, 140, x if x == 500 else (x + 500) / 2, balancer.top - 2, color=CLIENT)
    nodes = [
        (270, "A", "sessões: Ana, João (aba 2)"),
        (730, "B", "sessões: João (aba 1)"),
    ]
    for x, name, sessions in nodes:
        canvas.arrow((x + 500) / 2, balancer.bottom + 2, x, 300, color=CLIENT)
        canvas.text(
            x, 336, f"**nó {name}**\n`python -m wschat serve --redis URL`\n{sessions}",
            color=SERVER, box=Box("white", SERVER, pad=7), align="center",
        )
        canvas.arrow(x - 45, 380, x - 45, 478, color=SERVER)
        canvas.text(x - 55, 428, "`XADD`: grava", size=SMALL, color=SERVER, ha="right")
        canvas.arrow(x + 45, 478, x + 45, 380, color=OTHER)
        canvas.text(x + 55, 428, "`XREAD BLOCK`: lê\no que é novo", size=SMALL, color=OTHER,
                    ha="left", align="left")
    canvas.text(
        500, 528,
        "**Redis**\nstream `wschat:log`: o log, com ids em ordem, o mesmo para todos os nós\n"
        "e também: presença, contas, tokens, `ref`s aceitos e o sinal de vida (heartbeat) de cada nó",
        color=OTHER, box=Box("white", OTHER, pad=8), align="center",
    )
    canvas.text(
        500, 640,
        "Uma mensagem da Ana: o nó A a grava com `XADD`; os dois nós a leem com `XREAD` e a entregam\n"
        "às suas sessões: o A, à Ana e à aba 2 do João; o B, à aba 1 do João. O id é a posição no log:\n"
        "quem cai retoma em qualquer nó a partir do último id que viu.",
        size=SMALL, color=MUTED, align="center",
    )
    return canvas.save(out / "cluster.png")


DIAGRAMS = (
    draw_handshake,
    draw_close,
    draw_polling_vs_push,
    draw_replay_seam,
    draw_reconnect_resume,
    draw_frame_header,
    draw_cluster,
)


def main(argv: Seq[str]) -> int:
    """Draw every diagram into OUTDIR (the first argument, default docs/img/)."""
    if len(argv) > 1 or (argv and argv[0] in {"-h", "--help"}):
        print(__doc__)
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    out = Path(argv[0]) if argv else DEFAULT_OUT
    for draw in DIAGRAMS:
        print(draw(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
