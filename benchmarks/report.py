"""Medians over runs, the Markdown table, the goals and the plots (benchmarks/results/)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

import matplotlib

from wschat.teaching.benchread import median_over_runs

matplotlib.use("Agg")
import matplotlib.pyplot as plt

Run = dict[str, Any]

LABELS = {
    "wschat-memory": "wschat (:memory:)",
    "wschat-sqlite": "wschat (SQLite)",
    "relay-broadcast": "websockets broadcast() relay",
    "relay-loop": "tutorial relay (await send loop)",
    "socketio": "python-socketio (aiohttp)",
    "aiohttp": "aiohttp WebSocket relay",
    "picows": "picows relay",
    "socketify": "socketify pub/sub (uWebSockets)",
    "node-ws": "Node ws relay",
    "node-socketio": "Node socket.io",
    "uws": "uWebSockets.js pub/sub (Node)",
}
NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")
NODE_PACKAGES = ("ws", "socket.io", "uwebsockets")
OURS = ("wschat-memory", "wschat-sqlite")


def machine_info() -> dict[str, Any]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for package in ("websockets", "python-socketio", "python-engineio", "aiohttp", "uvloop",
                    "picows", "socketify"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    try:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10)
        versions["node"] = node.stdout.strip().lstrip("v") or "?"
    except (OSError, subprocess.SubprocessError):
        versions["node"] = "not installed"
    for package in NODE_PACKAGES:
        try:
            with open(os.path.join(NODE_DIR, "node_modules", package, "package.json")) as f:
                versions[f"npm {package}"] = str(json.load(f)["version"])
        except (OSError, ValueError, KeyError):
            versions[f"npm {package}"] = "not installed"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
        "commit": commit,
    }


def _by_contender(runs: list[Run]) -> dict[str, list[Run]]:
    grouped: dict[str, list[Run]] = {}
    for run in runs:
        grouped.setdefault(run["contender"], []).append(run)
    return {k: grouped[k] for k in LABELS if k in grouped}


def _step(run: Run, clients: int) -> dict[str, Any] | None:
    """The fan-out step of ``run`` planned for ``clients`` clients."""
    for step in run["steps"]:
        if step["target"] == clients:
            return step  # type: ignore[no-any-return]
    return None


def _targets(grouped: dict[str, list[Run]]) -> list[int]:
    return sorted({s["target"] for rs in grouped.values() for r in rs for s in r["steps"]})


def _step_median(runs: list[Run], clients: int, key: str) -> float | None:
    return median_over_runs([s[key] for r in runs if (s := _step(r, clients)) is not None])


def _pooled_efficiency(runs: list[Run], min_clients: int = 1000) -> float | None:
    """Deliveries per server CPU-second over every sweep step from ``min_clients`` up, per run;
    the median over runs."""
    values = []
    for run in runs:
        steps = [s for s in run["steps"] if s["target"] >= min_clients]
        cpu = sum(s["server_cpu_s"] for s in steps)
        deliveries = sum(s["deliveries"] for s in steps)
        if cpu > 0:
            values.append(deliveries / cpu)
    return median_over_runs(values)


def _threshold(runs: list[Run], limit_ms: float) -> str:
    """Clients at the first sweep step whose per-broadcast p95 RTT passes ``limit_ms``
    (median over runs of that step's p95)."""
    steps = _targets({"": runs})
    for n in steps:
        p95 = _step_median(runs, n, "rtt_p95_ms")
        if p95 is not None and p95 > limit_ms:
            return f"{n:,}"
    return f"> {steps[-1]:,}" if steps else "-"


def _held(runs: list[Run], limit_ms: float) -> tuple[int | None, str]:
    """The most clients a contender held in the sweep: the step before the first one whose
    p95 RTT (median over runs, as in :func:`_threshold`) passes ``limit_ms``; and what stopped
    the sweep ("p95", or "max clients": the file-descriptor cap)."""
    last: int | None = None
    for n in _targets({"": runs}):
        p95 = _step_median(runs, n, "rtt_p95_ms")
        if p95 is None or p95 > limit_ms:  # None: every broadcast of the step timed out
            return last, "p95"
        last = n
    stops = {run.get("sweep", {}).get("stopped_by", "end of steps") for run in runs}
    return last, " / ".join(sorted(stops))


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def one_line(run: Run) -> str:
    last = run["steps"][-1] if run["steps"] else {}
    ol = run.get("open_loop", {})
    return (
        f"{run['contender']}: {run['idle']['connects_per_s']:.0f} conn/s, "
        f"{(run['idle']['bytes_per_conn'] or 0) / 1024:.1f} KiB/conn; at {last.get('clients')} clients "
        f"{last.get('deliveries_per_s', 0):.0f} deliveries/s, {_fmt(last.get('cpu_us_per_delivery'), '.2f')} "
        f"CPU us/delivery, p99 {_fmt(last.get('lat_p99_ms'))} ms, gen load {_fmt(last.get('generator_load'), '.2f')}; "
        f"open loop p99 {_fmt(ol.get('lat_p99_ms'))} ms, private p99 {_fmt(ol.get('private_p99_ms'), '.2f')} ms"
    )


def goals(grouped: dict[str, list[Run]], table_max: int) -> list[tuple[str, str, bool | None]]:
    """(goal, measured, met) for every goal of the benchmark (benchmarks/README.md), per store of ours."""
    out: list[tuple[str, str, bool | None]] = []
    relay = grouped.get("relay-broadcast", [])
    sio = grouped.get("socketio", [])
    eff_relay = _pooled_efficiency(relay)
    eff_sio = _pooled_efficiency(sio)
    relay_ol = median_over_runs([r.get("open_loop", {}).get("lat_p99_ms") for r in relay])
    for key in OURS:
        runs = grouped.get(key)
        if not runs:
            continue
        name = LABELS[key]
        eff = _pooled_efficiency(runs)
        if eff and eff_relay:
            ratio = eff / eff_relay
            out.append((f"{name}: deliveries per server CPU-s >= 1.0x websockets broadcast() relay",
                        f"{ratio:.2f}x ({eff:,.0f} vs {eff_relay:,.0f})", ratio >= 1.0))
        if eff and eff_sio:
            ratio = eff / eff_sio
            out.append((f"{name}: deliveries per server CPU-s >= 4.5x python-socketio",
                        f"{ratio:.2f}x ({eff:,.0f} vs {eff_sio:,.0f})", ratio >= 4.5))
        ol = median_over_runs([r.get("open_loop", {}).get("lat_p99_ms") for r in runs])
        if ol is not None and relay_ol is not None:
            out.append((f"{name}: broadcast p99 at 1,000 clients (20/s) <= relay's",
                        f"{ol:.1f} ms vs {relay_ol:.1f} ms", ol <= relay_ol))
        p99 = _step_median(runs, table_max, "lat_p99_ms")
        if p99 is not None:
            out.append((f"{name}: broadcast p99 at {table_max:,} clients <= 150 ms", f"{p99:.1f} ms", p99 <= 150))
        private = median_over_runs([r.get("open_loop", {}).get("private_p99_ms") for r in runs])
        if private is not None:
            out.append((f"{name}: private p99 under broadcast load <= 5 ms", f"{private:.2f} ms", private <= 5))
        mem = median_over_runs([r["idle"]["bytes_per_conn"] for r in runs])
        if mem is not None:
            out.append((f"{name}: <= 16 KiB per idle connection (no compression)", f"{mem / 1024:.1f} KiB", mem <= 16 * 1024))
    return out


def _derive(runs: list[Run]) -> None:
    """Figures that older raw.json files lack, computed from what they have."""
    for run in runs:
        for step in run["steps"]:
            step.setdefault("target", step["clients"])  # the step's planned clients
            if "server_load" not in step and step.get("seconds"):
                step["server_load"] = step["server_cpu_s"] / step["seconds"]


def write(out: str, meta: dict[str, Any], runs: list[Run]) -> None:
    _derive(runs)
    grouped = _by_contender(runs)
    plan = meta.get("plan", {})
    table_steps = plan.get("table_steps", [100, 1000, 5000, 10000])
    lines: list[str] = []
    add = lines.append
    versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
    add("# wschat benchmark results\n")
    add(f"- date: {meta.get('date')}; commit {meta.get('commit')}; {meta.get('minutes', 0):.0f} minutes")
    add(f"- machine: {meta.get('cpu')}, {meta.get('cores')} cores, {meta.get('memory_gib')} GiB, Linux {meta.get('kernel')}; "
        f"load average before {_loads(meta.get('load_before'))}, after {_loads(meta.get('load_after'))}")
    add(f"- Python {meta.get('python')}; {versions}")
    add(f"- {plan.get('runs')} runs per contender, alternating; every figure is the median over runs. "
        "Server pinned to core 0, load generator (4 processes + coordinator) to core 1.")
    target = plan.get("sample_target")
    if target:
        add(f"- Latency percentiles come from about {target:,} sampled clients per step: every k-th in "
            f"connection order, k = clients // {target:,} (every client below {2 * target:,}); every "
            "client counts its deliveries (benchmarks/README.md).")
    elif target == 0:
        add("- Latency percentiles come from every client.")
    add("")

    add("## Broadcast fan-out (4 broadcasts in flight, 100 samples per step)\n")
    add("| server | clients | deliveries/s | p50 ms | p95 ms | p99 ms | server CPU µs/delivery | deliveries per CPU-s | server load | generator load |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, rs in grouped.items():
        for n in table_steps:
            med = _stepper(rs, n)
            add(f"| {LABELS[key]} | {n:,} | {_fmt(med('deliveries_per_s'), ',.0f')} | {_fmt(med('lat_p50_ms'))} | "
                f"{_fmt(med('lat_p95_ms'))} | {_fmt(med('lat_p99_ms'))} | {_fmt(med('cpu_us_per_delivery'), '.2f')} | "
                f"{_fmt(med('deliveries_per_cpu_s'), ',.0f')} | {_fmt(med('server_load'), '.0%')} | "
                f"{_fmt(med('generator_load'), '.0%')} |")
    add("")
    add("Latency is from the send until a client has the message. Server load and generator load "
        "are CPU seconds per second of the step (100 % = a whole core: the server has core 0, the "
        "generator core 1). A row whose generator load is near 100 % while the server's is well below "
        "is bounded by the generator: its deliveries/s is a floor for the server and its latencies "
        "include waiting for the generator. Server CPU per delivery is measured on the server alone.\n")

    limit = plan.get("sweep_limit_ms", 250)
    most = meta.get("most_clients")
    add("## websocket-shootout sweep (clients added until the per-broadcast p95 passes a limit)\n")
    add(f"| server | holds at p95 ≤ {limit:.0f} ms | sweep stopped by | p95 > 250 ms at | "
        "p95 > 500 ms at | deliveries per server CPU-s (steps ≥ 1,000 clients) |")
    add("| --- | ---: | --- | ---: | ---: | ---: |")
    for key, rs in grouped.items():
        held, stop = _held(rs, limit)
        add(f"| {LABELS[key]} | {_fmt(held, ',.0f')} | {stop} | {_threshold(rs, 250)} | "
            f"{_threshold(rs, 500)} | {_fmt(_pooled_efficiency(rs), ',.0f')} |")
    add("")
    add(f"Clients are added {plan.get('sweep_step', 1000):,} at a time past the fan-out steps, 4 "
        f"broadcasts in flight, until a step's p95 passes {limit:.0f} ms or the sweep reaches "
        f"{_fmt(most, ',.0f')} clients (\"max clients\": every connection is a file descriptor of "
        "the server's process, whose limit is below 1,000 more). \"Holds\" is the last step before "
        "the first one whose p95 (median over runs) is past the limit.\n")

    add("## 1,000 clients, 20 broadcasts/s, private messages meanwhile (50/s between two other users)\n")
    add("| server | broadcast p50 ms | p95 ms | p99 ms | private p50 ms | private p99 ms | generator load |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, rs in grouped.items():
        def ol(name: str, rs: list[Run] = rs) -> float | None:
            return median_over_runs([r.get("open_loop", {}).get(name) for r in rs])
        add(f"| {LABELS[key]} | {_fmt(ol('lat_p50_ms'))} | {_fmt(ol('lat_p95_ms'))} | {_fmt(ol('lat_p99_ms'))} | "
            f"{_fmt(ol('private_p50_ms'), '.2f')} | {_fmt(ol('private_p99_ms'), '.2f')} | {_fmt(ol('generator_load'), '.0%')} |")
    add("")

    idle_n = plan.get("idle_clients", 10000)
    add(f"## Connections ({idle_n:,} idle clients, then as many as the file limit allows)\n")
    add(f"| server | connections/s | KiB per idle connection ({idle_n:,}) | KiB, client offers deflate | "
        "measured up to | RSS there, MiB | KiB per connection there | most connections in 1 GiB |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, rs in grouped.items():
        def idle(name: str, part: str = "idle", rs: list[Run] = rs) -> float | None:
            return median_over_runs([r[part].get(name) for r in rs])
        kib = idle("bytes_per_conn")
        kib_d = idle("bytes_per_conn", "idle_deflate")
        most_kib = idle("most_bytes_per_conn")
        most_rss = idle("most_rss_bytes")
        add(f"| {LABELS[key]} | {_fmt(idle('connects_per_s'), ',.0f')} | {_fmt(kib and kib / 1024)} | "
            f"{_fmt(kib_d and kib_d / 1024)} | {_fmt(idle('most_clients') or idle('clients'), ',.0f')} | "
            f"{_fmt(most_rss and most_rss / 2**20, ',.0f')} | {_fmt(most_kib and most_kib / 1024)} | "
            f"{_fmt(idle('max_conns_1gib'), ',.0f')} |")
    add("")
    most, fd_limit = meta.get("most_clients"), meta.get("fd_limit")
    if most and fd_limit and most >= fd_limit - 1000:
        add(f"Connections are measured up to {most:,}, where the file-descriptor limit stops the "
            f"measurement: every connection is a file descriptor in the server's process, whose "
            f"limit here is {fd_limit:,} and cannot be raised. Most connections in 1 GiB is "
            "extrapolated beyond that: (1 GiB - RSS before connecting) / RSS growth per connection "
            f"over the {most:,}.\n")
    elif most:
        add(f"Connections are measured up to {most:,}; most connections in 1 GiB is extrapolated "
            "from them: (1 GiB - RSS before connecting) / RSS growth per connection.\n")
    else:
        add("Most connections in 1 GiB is extrapolated: (1 GiB - RSS before connecting) / RSS growth per connection.\n")

    left_out = meta.get("left_out") or {}
    if left_out:
        add("## Left out of this run\n")
        for key, why in left_out.items():
            add(f"- {LABELS.get(key, key)}: {why}")
        add("")

    add("## Goals\n")
    add("| goal | measured | met |")
    add("| --- | --- | --- |")
    for goal, measured, met in goals(grouped, max(table_steps)):
        add(f"| {goal} | {measured} | {'yes' if met else 'MISSED'} |")
    add("")
    add("Plots: fanout_throughput.png, fanout_cpu.png, fanout_latency.png, connections.png.")
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    _plots(out, grouped)


def _stepper(rs: list[Run], n: int) -> Callable[[str], float | None]:
    return lambda key: _step_median(rs, n, key)


def _loads(loads: Sequence[float] | None) -> str:
    return "?" if not loads else " / ".join(f"{x:.2f}" for x in loads)


def _style(key: str) -> dict[str, Any]:
    """One line style per contender, the same in every plot: a colour of its own (eleven
    contenders outnumber matplotlib's ten default colours), wschat thick, Node's peers dashed."""
    keys = list(LABELS)
    index = keys.index(key) if key in keys else len(keys)
    return {
        "color": plt.get_cmap("tab20")(2 * index % 20 + (2 * index // 20)),
        "marker": "o",
        "markersize": 4,
        "linewidth": 2.5 if key in OURS else 1.3,
        "linestyle": "--" if key in ("node-ws", "node-socketio", "uws") else "-",
    }


def _plots(out: str, grouped: dict[str, list[Run]]) -> None:
    steps = _targets(grouped)

    def series(rs: list[Run], key: str) -> tuple[list[int], list[float]]:
        xs, ys = [], []
        for n in steps:
            v = _step_median(rs, n, key)
            if v is not None:
                xs.append(n)
                ys.append(v)
        return xs, ys

    def line_plot(name: str, key: str, ylabel: str, title: str, log: bool = False,
                  limits: Sequence[float] = ()) -> None:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for contender, rs in grouped.items():
            xs, ys = series(rs, key)
            ax.plot(xs, ys, label=LABELS[contender], **_style(contender))
        for limit in limits:
            ax.axhline(limit, color="grey", linestyle="--", linewidth=0.8)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("connected clients")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(out, name), dpi=110)
        plt.close(fig)

    line_plot("fanout_throughput.png", "deliveries_per_s", "deliveries per second",
              "Broadcast fan-out throughput (4 in flight)")
    line_plot("fanout_cpu.png", "cpu_us_per_delivery", "server CPU µs per delivery (log scale)",
              "Server CPU per delivery (lower is better)", log=True)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for contender, rs in grouped.items():
        xs, ys = series(rs, "lat_p99_ms")
        axes[0].plot(xs, ys, label=LABELS[contender], **_style(contender))
        xs, ys = series(rs, "rtt_p95_ms")
        axes[1].plot(xs, ys, label=LABELS[contender], **_style(contender))
    axes[0].set_title("p99 latency per delivery")
    axes[1].set_title("p95 time until every client has a broadcast")
    for ax, limits in ((axes[0], (150,)), (axes[1], (250, 500))):
        for limit in limits:
            ax.axhline(limit, color="grey", linestyle="--", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("connected clients")
        ax.set_ylabel("ms")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "fanout_latency.png"), dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [LABELS[k] for k in grouped]
    plain = [(median_over_runs([r["idle"]["bytes_per_conn"] for r in rs]) or 0) / 1024 for rs in grouped.values()]
    deflate = [(median_over_runs([r["idle_deflate"]["bytes_per_conn"] for r in rs]) or 0) / 1024 for rs in grouped.values()]
    rate = [median_over_runs([r["idle"]["connects_per_s"] for r in rs]) or 0 for rs in grouped.values()]
    x = range(len(names))
    axes[0].bar([i - 0.2 for i in x], plain, width=0.4, label="no compression")
    axes[0].bar([i + 0.2 for i in x], deflate, width=0.4, label="client offers deflate")
    axes[0].axhline(16, color="grey", linestyle="--", linewidth=0.8)
    axes[0].set_ylabel("KiB per idle connection (RSS growth)")
    axes[0].legend(fontsize=8)
    axes[1].bar(list(x), rate)
    axes[1].set_ylabel("connections per second")
    for ax in axes:
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "connections.png"), dpi=110)
    plt.close(fig)
