"""``python -m benchmarks``: run the whole benchmark (see benchmarks/README.md).

Writes benchmarks/results/results.md (the table), *.png (the plots) and raw.json (every run).
``--quick`` is a small smoke run for development; its results go to a scratch folder
unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from tqdm import tqdm

from . import report
from .run import (
    CONTENDERS,
    QUICK,
    BenchSession,
    Contender,
    Plan,
    missing,
    run_coordinator,
    two_cores,
)

RESULTS = os.path.join(os.path.dirname(__file__), "results")


async def idle_memory(contender: Contender, plan: Plan, *, deflate: bool, bar: tqdm[Any],
                      most: int = 0) -> dict[str, Any]:
    """Connect ``plan.idle_clients`` idle clients: connections/s and RSS growth per connection.

    With ``most`` above that, go on connecting up to ``most`` clients and measure RSS again:
    the most connections within 1 GiB is then extrapolated from that larger measurement.
    """
    session = BenchSession(contender, workers=plan.workers, deflate=deflate)
    try:
        await session.start()
        await asyncio.sleep(1.0)
        rss0 = session.rss()
        connected = await session.connect(plan.idle_clients)
        await asyncio.sleep(2.0)  # let the server finish what the logins started
        rss1 = session.rss()
        added = connected["added"]
        per_conn = (rss1 - rss0) / added if added else None
        result: dict[str, Any] = {
            "deflate_offered": deflate,
            "clients": added,
            "failed": connected["failed"],
            "connect_seconds": connected["seconds"],
            "connects_per_s": connected["per_s"],
            "rss_base_bytes": rss0,
            "rss_bytes": rss1,
            "bytes_per_conn": per_conn,
            "max_conns_1gib": int((2**30 - rss0) / per_conn) if per_conn else None,
        }
        if most > plan.idle_clients:
            more = await session.connect(most)
            await asyncio.sleep(2.0)
            rss2 = session.rss()
            total = session.clients
            grown = (rss2 - rss0) / total if total else None
            result.update({
                "most_clients": total,
                "most_failed": more["failed"],
                "most_rss_bytes": rss2,
                "most_bytes_per_conn": grown,
                "max_conns_1gib": int((2**30 - rss0) / grown) if grown else None,
            })
        return result
    finally:
        await session.stop()
        bar.update()


async def fanout(contender: Contender, plan: Plan, bar: tqdm[Any], sweep_max: int = 0) -> dict[str, Any]:
    """The fan-out steps of ``plan``, then the sweep beyond them: ``plan.sweep_step`` more
    clients at a time up to ``sweep_max`` (the file-descriptor limit), until a step's p95
    RTT passes ``plan.sweep_limit_ms`` (websocket-shootout's rule)."""
    session = BenchSession(contender, workers=plan.workers, sample_target=plan.sample_target)
    steps: list[dict[str, Any]] = []
    result: dict[str, Any] = {"steps": steps}

    async def step(n: int) -> dict[str, Any]:
        bar.set_postfix_str(f"{contender.key}: {n} clients")
        connected = await session.connect(n)
        measured = await session.closed_loop(samples=plan.samples)
        measured["target"] = n
        measured["connect"] = connected
        steps.append(measured)
        return measured

    def past(measured: dict[str, Any], limit_ms: float) -> bool:
        # No RTT at all (every broadcast timed out) is past any limit.
        return measured["rtt_p95_ms"] is None or measured["rtt_p95_ms"] > limit_ms

    try:
        await session.start()
        past_limit = past_sweep = False
        for n in plan.fanout_steps:
            if past_limit and n not in plan.table_steps:
                bar.update()  # the shootout stops here; only the table's steps are still measured
                continue
            measured = await step(n)
            past_limit = past_limit or past(measured, 500)
            past_sweep = past_sweep or past(measured, plan.sweep_limit_ms)
            bar.update()
            if n == plan.open_loop_clients:
                bar.set_postfix_str(f"{contender.key}: 20 broadcasts/s + private")
                result["open_loop"] = await session.open_loop()
                bar.update()
        # The sweep goes on while every step so far held its p95 within the limit.
        n = max(plan.fanout_steps) + plan.sweep_step
        while not past_sweep and n <= sweep_max:
            bar.total += 1  # how far the sweep goes is only known as it goes
            measured = await step(n)
            bar.update()
            past_sweep = past(measured, plan.sweep_limit_ms)
            n += plan.sweep_step
        result["sweep"] = {
            "limit_ms": plan.sweep_limit_ms,
            "max_clients": sweep_max,
            "stopped_by": "p95" if past_sweep else "max clients",
        }
    finally:
        await session.stop()
    return result


async def run_contender(contender: Contender, plan: Plan, bar: tqdm[Any], most: int) -> dict[str, Any]:
    bar.set_postfix_str(f"{contender.key}: idle connections")
    plain = await idle_memory(contender, plan, deflate=False, bar=bar, most=most)
    bar.set_postfix_str(f"{contender.key}: idle connections, deflate offered")
    deflate = await idle_memory(contender, plan, deflate=True, bar=bar)
    return {"contender": contender.key, "idle": plain, "idle_deflate": deflate,
            **await fanout(contender, plan, bar, sweep_max=most)}


async def main_async(plan: Plan, keys: list[str], out: str, fd_limit: int,
                     left_out: dict[str, str] | None = None) -> None:
    runs: list[dict[str, Any]] = []
    meta = report.machine_info()
    meta["left_out"] = left_out or {}
    # Every connection is a file descriptor in the server's process: the limit (its hard limit
    # is the most a process may raise it to) stops the measurement there, less some for the
    # server's own files and the coordinator's clients.
    most = min(plan.most_clients, fd_limit - 1000)
    meta["fd_limit"] = fd_limit
    meta["most_clients"] = most
    meta["load_before"] = os.getloadavg()
    started = time.time()
    per_contender = 2 + len(plan.fanout_steps) + (1 if plan.open_loop_clients in plan.fanout_steps else 0)
    with tqdm(total=plan.runs * len(keys) * per_contender, unit="phase", desc="benchmark") as bar:
        for r in range(plan.runs):
            order = keys if r % 2 == 0 else list(reversed(keys))  # alternate, so drift evens out
            for key in order:
                result = await run_contender(CONTENDERS[key], plan, bar, most)
                result["run"] = r
                runs.append(result)
                tqdm.write(report.one_line(result))
    meta["load_after"] = os.getloadavg()
    meta["minutes"] = (time.time() - started) / 60
    meta["plan"] = {k: list(v) if isinstance(v, tuple) else v for k, v in plan.__dict__.items()}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "raw.json"), "w") as f:
        json.dump({"meta": meta, "runs": runs}, f, indent=1)
    report.write(out, meta, runs)
    print(f"results in {out}/results.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small N, one run (development)")
    parser.add_argument("--runs", type=int, help="runs per contender (default 2)")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="about N clients per step parse latency stamps, the others only "
                             "count (default 1000; 0 = every client)")
    parser.add_argument("--only", nargs="+", choices=sorted(CONTENDERS), help="these contenders only")
    parser.add_argument("--out", help="results folder (default benchmarks/results)")
    parser.add_argument("--report-only", action="store_true", help="redo table and plots from raw.json")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    if args.runs:
        plan = Plan(**{**plan.__dict__, "runs": args.runs})
    if args.sample is not None:
        plan = Plan(**{**plan.__dict__, "sample_target": args.sample})
    out = args.out or (os.path.join("/tmp", "wschat-bench-quick") if args.quick else RESULTS)
    if args.report_only:
        with open(os.path.join(out, "raw.json")) as f:
            data = json.load(f)
        report.write(out, data["meta"], data["runs"])
        return 0
    if not two_cores():
        print("warning: one core only; server and generator share it", file=sys.stderr)
    keys = args.only or list(CONTENDERS)
    # A contender whose parts are not installed is left out, loudly (results.md says so too).
    left_out = {key: why for key in keys if (why := missing(CONTENDERS[key])) is not None}
    for key, why in left_out.items():
        print(f"warning: {key} left out: {why}", file=sys.stderr)
    keys = [key for key in keys if key not in left_out]
    if not keys:
        print("nothing to measure", file=sys.stderr)
        return 2
    run_coordinator(lambda fd_limit: main_async(plan, keys, out, fd_limit, left_out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
