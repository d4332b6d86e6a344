"""Generator throughput of `telltales simulate` at the default size (2,000 employees × 14 days).

    python benchmarks/bench_simulate.py [--employees 2000] [--days 14] [--seeds 0 1 2] [--out DIR]

Prints telemetry events, seconds and events/s per seed (generation only, then with the
JSONL/labels/config write when --out is given). Not a test: the target is "well under a
minute" for the default size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from telltales.streams.simulate import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=2000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, help="also time writing the files here (default: a temp dir)")
    args = parser.parse_args()
    for seed in args.seeds:
        began = time.perf_counter()
        sim = simulate(employees=args.employees, days=args.days, seed=seed)
        generated = time.perf_counter() - began
        with tempfile.TemporaryDirectory() as tmp:
            sim.write(args.out or Path(tmp))
        total = time.perf_counter() - began
        n = len(sim.telemetry)
        print(f"seed {seed}: {n:,} events ({n / (args.employees * args.days):.1f} per employee-day), "
              f"generate {generated:.1f} s = {n / generated:,.0f} events/s, with write {total:.1f} s "
              f"= {n / total:,.0f} events/s; operatives {len(sim.labels['operatives'])}")


if __name__ == "__main__":
    main()
