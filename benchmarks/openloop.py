"""``python -m benchmarks.openloop``: only the open-loop phase, repeated, for quick A/B checks.

The full benchmark measures the open loop once per run at 1,000 clients (benchmarks/README.md);
this runs just that phase ``--reps`` times on one server per contender (same generator, same
pinning, same 20 broadcasts/s and 50 private messages/s) and prints server CPU microseconds
per delivery and the broadcast p99 of each repetition, with their medians. It is a tool to
measure one change to the server in a few minutes, not a result: results come from
``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from .run import CONTENDERS, BenchSession, missing, run_coordinator


async def measure(key: str, clients: int, reps: int, seconds: float, rate: float = 20.0,
                  private_rate: float = 50.0) -> list[tuple[float, float, float]]:
    """``reps`` open-loop phases on one fresh server: (µs of server CPU per delivery, broadcast p99 ms,
    private p99 ms)."""
    session = BenchSession(CONTENDERS[key], workers=4)
    out: list[tuple[float, float, float]] = []
    try:
        await session.start()
        await session.connect(clients)
        await session.open_loop(rate=rate, seconds=2.0, private_rate=private_rate)  # warm-up
        assert session.server_ps is not None
        for _ in range(reps):
            before = session.server_ps.cpu_times()
            r = await session.open_loop(rate=rate, seconds=seconds, private_rate=private_rate)
            after = session.server_ps.cpu_times()
            us = 1e6 * r["server_cpu_s"] / r["deliveries"] if r["deliveries"] else float("nan")
            per_private = 1e6 * r["server_cpu_s"] / r["private_samples"] if r["private_samples"] else float("nan")
            # The user/system split of the whole phase (warm-up included), for the profile.
            user, system = after.user - before.user, after.system - before.system
            share = user / (user + system) if user + system else float("nan")
            out.append((us, r["lat_p99_ms"] or float("nan"), r["private_p99_ms"] or float("nan")))
            print(f"{key}: {us:.2f} us/delivery ({100 * share:.0f} % user), "
                  f"p99 {out[-1][1]:.1f} ms, private p99 {out[-1][2]:.1f} ms, "
                  f"all CPU per private {per_private:.0f} us, lost {r['lost_clients']}, "
                  f"timeouts {r['timeouts']}", flush=True)
    finally:
        await session.stop()
    return out


async def main_async(keys: list[str], clients: int, reps: int, seconds: float, rate: float,
                     private_rate: float) -> None:
    results = {key: await measure(key, clients, reps, seconds, rate, private_rate) for key in keys}
    print("\nmedians:")
    for key, rows in results.items():
        us = statistics.median(r[0] for r in rows)
        p99 = statistics.median(r[1] for r in rows)
        private = statistics.median(r[2] for r in rows)
        print(f"  {key:16} {us:6.2f} us/delivery  {1e6 / us:9,.0f} deliveries/CPU-s  "
              f"p99 {p99:5.1f} ms  private p99 {private:5.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.openloop", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=sorted(CONTENDERS), default=["wschat-sqlite"])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="broadcasts per second")
    parser.add_argument("--private-rate", type=float, default=50.0, help="private messages per second")
    args = parser.parse_args(argv)
    for key in args.only:
        if (why := missing(CONTENDERS[key])) is not None:
            print(f"{key}: {why}", file=sys.stderr)
            return 2
    run_coordinator(lambda _: main_async(args.only, args.clients, args.reps, args.seconds,
                                         args.rate, args.private_rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
