"""Notebook 05_escala: it runs top to bottom offline, and what its cells leave behind holds.

Each ``check_*`` function runs in the notebook's kernel after the notebook (tests/nbkit.py):
its parameters name the notebook's variables. The notebook shows one check per section, the
one that states the lesson; every other invariant of what it ran, and every figure its prose
quotes from the benchmark, is checked here.

The checks named ``check_redis_*`` read what the Redis sections left behind: without a
``redis-server`` those sections are skipped (the notebook says so), and so are these checks.
"""

from __future__ import annotations

from typing import Any

import pytest
from nbkit import Run

from wschat.teaching.redis_server import find_redis_server

NOTEBOOK = "05_escala"


def test_runs_without_errors(notebook_run: Run) -> None:
    assert notebook_run.errors() == []


def test_check(notebook_run: Run, check: Any) -> None:
    if check.__name__.startswith("check_redis_") and find_redis_server() is None:
        pytest.skip("no redis-server 6.2+ here: the notebook skipped its Redis sections")
    notebook_run.assert_held(check)


def test_no_redis_section_was_skipped_where_the_suite_has_redis(notebook_run: Run) -> None:
    if find_redis_server() is not None:
        assert "SEM REDIS" not in notebook_run.printed()


def test_no_log_line_reaches_the_reader(notebook_run: Run) -> None:
    """The nodes' log (English) is kept and explained, never printed raw: no stderr output."""
    streams = [
        out.get("text", "")
        for cell in notebook_run.notebook.cells
        if cell.cell_type == "code" and not cell.metadata.get("wschat_check")
        for out in cell.outputs
        if out.output_type == "stream" and out.get("name") == "stderr"
    ]
    assert streams == []


# ------------------------------------------------------------------ section 1


def check_routing_picks_every_session_once(chosen: Any, presence: Any) -> None:
    assert len(chosen) == 10_000 and len(set(chosen)) == 10_000
    assert len(presence.online()) == 5_000


def check_what_one_process_held_in_the_benchmark(raw: Any) -> None:
    """Section 1: 19.000 connections in one wschat process, about 16 KiB each."""
    from wschat.teaching.ptbr import number

    runs = [r for r in raw["runs"] if r["contender"] == "wschat-sqlite"]
    assert runs and all(r["idle"]["most_clients"] == 19_000 for r in runs)
    assert all(r["idle"]["most_failed"] == 0 for r in runs)
    assert {number(r["idle"]["bytes_per_conn"] / 1024) for r in runs} == {"16"}
    assert raw["meta"]["plan"]["most_clients"] == 19_000


# ------------------------------------------------------------------ section 2


def check_two_nodes_with_nothing_shared_lose_the_message(
    public: Any, private: Any, got_b: Any, alone_a: Any, alone_b: Any
) -> None:
    from wschat import ErrorEvent, Message, Users

    assert isinstance(public[-1], Message) and public[-1].text == "oi, joao!"
    assert isinstance(private[-1], ErrorEvent) and private[-1].code == "unknown_user"
    assert not [e for e in got_b if isinstance(e, Message)]
    assert isinstance(got_b[-1], Users) and list(got_b[-1].online) == ["joao"]
    assert not alone_a.running and not alone_b.running


# ------------------------------------------------------------------ section 3


def check_redis_pubsub_lost_what_was_sent_while_away(delivered: Any, got: Any) -> None:
    assert delivered == {"m1": 1, "m2": 0, "m3": 1}
    assert got == ["m1", "m3"]  # m2 is gone: nobody can ask for it again


def check_redis_the_stream_replays_after_the_last_id(
    first: Any, seen_id: Any, written: Any, caught_up: Any
) -> None:
    from wschat.core.model import log_order

    assert seen_id == first
    assert [i for i, _ in caught_up] == written
    assert [f["texto"] for _, f in caught_up] == ["m2", "m3"]
    assert seen_id not in [i for i, _ in caught_up]  # "after": the id itself does not come back
    assert sorted(written, key=log_order) == written  # ids in order, comparable with log_order


# ------------------------------------------------------------------ section 4


def check_redis_two_real_nodes_ran(node_a: Any, node_b: Any) -> None:
    assert node_a.url != node_b.url
    assert node_a.process.returncode == -9  # SIGKILL
    assert node_b.process.returncode == 0


def check_redis_one_log_one_epoch_cluster_presence(
    welcome_ana: Any, welcome_joao: Any, joined: Any
) -> None:
    from wschat import Presence

    assert welcome_ana.epoch == welcome_joao.epoch  # one log, one epoch
    assert list(welcome_joao.online) == ["ana", "joao"]  # the whole cluster's presence
    assert joined == Presence("joao", True)


def check_redis_one_message_one_id_on_every_node(
    echo: Any, in_a: Any, in_b: Any, echo_private: Any, to_ana: Any, other_tab: Any
) -> None:
    from wschat.core.model import log_order

    assert echo.id == in_b.id == in_a.id
    assert echo.ref is not None and in_b.ref is None and in_a.ref is None  # ref: sender only
    assert echo_private.id == to_ana.id == other_tab.id and to_ana.private
    assert log_order(echo.id) < log_order(echo_private.id)  # one order


def check_redis_a_ref_sent_through_two_nodes_is_stored_once(
    in_stream: Any, got_ids: Any
) -> None:
    assert len(in_stream) == 1
    assert got_ids["Ana, nó A"] == in_stream  # Ana: once
    # Each of João's sessions gets that entry and no other; one of them may get it twice, as
    # the message and as the answer to its own send with that ref (PROTOCOL.md: the original
    # sent back to the resender), depending on which of the two frames comes first.
    assert all(set(got_ids[name]) == set(in_stream) for name in ("João, nó B", "João, nó A"))


def check_redis_the_dead_node_was_noticed_within_its_ttl(
    gone: Any, waited: Any, NODE_TTL: Any
) -> None:
    from wschat import Presence

    assert gone == Presence("ana", False)
    assert waited < NODE_TTL + NODE_TTL / 3 + 2  # TTL + one sweep (+ slack)


def check_redis_ana_resumed_on_the_other_node_without_a_gap(
    back: Any, replay: Any, missed: Any, online: Any
) -> None:
    assert back.welcome.recovered is True and back.welcome.last == missed[-1]
    assert [m.id for m in replay] == missed
    assert [m.text for m in replay] == ["ana, você caiu?", "vou esperar"]
    assert list(online.online) == ["ana", "joao"]


def check_the_defaults_the_text_quotes() -> None:
    from wschat.cluster import redis_defaults as defaults

    assert defaults.NODE_TTL == 15.0  # "o padrão é 15 s"
    assert defaults.REDIS_MAXLEN == 1_000_000  # "cerca de 1.000.000 de mensagens"


# ------------------------------------------------------------------ section 5


def check_redis_without_redis_sends_fail_and_the_node_stays_up(
    refused: Any, alive: Any, bye: Any, status: Any
) -> None:
    assert refused.code == "server_error" and alive is True
    assert bye.code == 1001 and status == 0


def check_redis_the_nodes_log_is_explained_in_portuguese(node_b: Any) -> None:
    from wschat.teaching.nodes import LOG_MEANINGS, explain_log

    explained = explain_log(node_b.log)
    assert node_b.log and explained
    assert not any(e.startswith("(sem tradução)") for e in explained), node_b.log
    assert dict(LOG_MEANINGS)["append failed"] in explained


# ------------------------------------------------------------------ section 6: the benchmark


def check_the_benchmark_setup_the_text_describes(raw: Any, table: Any) -> None:
    from wschat.teaching.benchread import runs_per_contender

    assert raw["meta"]["cores"] == 2
    assert len(table) - 2 == 9  # wschat (2 logs) + nine alternatives
    assert set(runs_per_contender(raw).values()) == {2}  # a median of 2 runs
    assert {(r["open_loop"]["clients"], r["open_loop"]["rate"]) for r in raw["runs"]} == {(1000, 20.0)}
    # "4 mensagens públicas sempre em trânsito": the chart's steps are the closed loop's, run
    # with its default number of broadcasts in flight.
    import ast
    from pathlib import Path

    tree = ast.parse((Path("..") / "benchmarks" / "run.py").read_text())
    loop = next(f for f in ast.walk(tree)
                if isinstance(f, ast.AsyncFunctionDef) and f.name == "closed_loop")
    defaults = dict(zip([a.arg for a in loop.args.args][-len(loop.args.defaults):],
                        loop.args.defaults, strict=True))
    assert isinstance(defaults["in_flight"], ast.Constant) and defaults["in_flight"].value == 4


def check_the_benchmark_figures_the_text_quotes(raw: Any, table: Any) -> None:
    from wschat.teaching.benchread import open_loop
    from wschat.teaching.ptbr import number

    efficiency = "deliveries_per_cpu_s"
    wschat, uws, ws, sio = (table[k] for k in ("wschat-sqlite", "uws", "node-ws", "socketio"))
    assert f"{number(wschat[10_000][efficiency] / 1000)} mil" == "763 mil"
    assert number(wschat[10_000][efficiency] / uws[10_000][efficiency], 1) == "1,6"
    assert number(wschat[10_000][efficiency] / ws[10_000][efficiency], 1) == "2,3"
    assert number(wschat[10_000][efficiency] / sio[10_000][efficiency]) == "77"
    loop = open_loop(raw)  # 1.000 clients, 20 messages per second
    assert number(loop["uws"][efficiency] / loop["wschat-sqlite"][efficiency], 1) == "1,8"
    # Quoted by earlier versions (and the benchmark's tables): p95 at 10,000 clients.
    assert [number(t[10_000]["lat_p95_ms"], 1) for t in (wschat, uws, ws)] == ["65,6", "84,4",
                                                                               "158,6"]


def check_the_chart_has_a_log_axis_and_a_legend_over_no_line(
    figure: Any, axis: Any, shown: Any
) -> None:
    assert len(shown) == 7 and shown[0] == "wschat-sqlite"  # wschat and six alternatives
    assert axis.get_xscale() == "log"
    assert len(axis.get_lines()) == len(shown)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()  # plt.show() left no canvas to draw on
    legend = axis.get_legend().get_window_extent(renderer)
    plot_area = axis.get_window_extent(renderer)
    assert legend.x0 > plot_area.x1  # the legend sits right of the plotting area


def check_at_100_clients_wschat_trails_three_of_the_charted_alternatives(
    table: Any, shown: Any
) -> None:
    """Section 6: "com 100 clientes, o wschat fica atrás de três alternativas"; from 1.000 on,
    its fixed cost per message is spread over ten times as many deliveries."""
    efficiency = "deliveries_per_cpu_s"
    wschat = table["wschat-sqlite"]
    ahead = [c for c in shown[1:] if table[c][100][efficiency] > wschat[100][efficiency]]
    assert sorted(ahead) == ["node-ws", "picows", "uws"]
    assert wschat[1000][efficiency] > 1.5 * wschat[100][efficiency]


# ------------------------------------------------------------------ section 7


def check_one_frame_is_the_same_bytes_for_everyone(
    once: Any, text: Any, per_connection: Any, shared: Any, each: Any, one: Any
) -> None:
    from websockets.frames import Frame, Opcode

    assert once == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)
    assert once[0] == 0x80 | 0x1  # FIN + opcode 1 (text)
    assert once[1] == 126 and int.from_bytes(once[2:4]) == len(once) - 4  # 2-byte length, no mask
    assert len(per_connection) == len(shared) == 10_000
    assert all(f == once for f in per_connection) and all(f is shared[0] for f in shared)
    assert one < each


# ------------------------------------------------------------------ exercises


def check_the_exercise_placeholders_get_a_hint() -> None:
    from wschat.teaching.exercises.scale import verificar_entregas, verificar_reinicio

    for checker in (verificar_reinicio, verificar_entregas):
        verdict = checker(None)
        assert not verdict and "None" in verdict.message
