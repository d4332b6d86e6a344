"""Replay throughput and per-employee state size on the simulator's realistic mix (SPEC section 8).

    python benchmarks/bench_replay.py [--employees 2000] [--days 14] [--seed 0] [--repeat 3]

One process, one core. The event mix is fixed: `telltales simulate` with the given seed
(default 2,000 employees × 14 days, ~260k events). In the same run, on the same lines:
  1. read + orjson.loads      — the parse ceiling (no types, no detection)
  2. read + Decoder.decode    — the contract's decode alone
  3. telltales replay core    — decode, every detector, correlation, fusion, OCSF findings
Then the serialized state (msgpack) of every employee after the run: p50 / p99 / max bytes
against the 2 KB target, and the key-state tables' sizes.

Each row measures only its own work: nothing it produces is kept (260k live dicts would
make the cycle collector rescan them all, over and over, and bill the row for it), and the
simulator's output is dropped and everything long-lived frozen out of the collector's
view before timing. Without that, the orjson row read ~16 µs a line where one
`orjson.loads` of such a line costs ~1 µs.
"""

from __future__ import annotations

import argparse
import gc
import io
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from telltales.schemas.config import parse
from telltales.schemas.decoder import Decoder
from telltales.schemas.events import Employee
from telltales.streams.replay import Pipeline, read_lines, replay
from telltales.streams.simulate import simulate


def best_rate(label: str, n: int, run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.freeze()  # what is alive now (modules, the config, the decoder) is not this row's garbage to scan
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
        gc.unfreeze()
    rate = n / min(times)
    print(f"  {label:34s} {rate:>10,.0f} events/s  (best of {repeat}: {min(times):.2f} s)", flush=True)
    return rate


def _each(path: Path, function) -> None:
    """Apply `function` to every line of `path`, keeping nothing."""
    with path.open("rb") as stream:
        for line in stream:
            function(line.rstrip(b"\n"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=2000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    sim = simulate(employees=args.employees, days=args.days, seed=args.seed)
    config = parse(sim.config_toml)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        sim.write(Path(tmp))
        del sim  # a large live heap the rows below would otherwise carry
        with path.open("rb") as stream:
            n = sum(1 for _ in stream)
        print(f"replay benchmark: {n:,} lines ({args.employees} employees × {args.days} days, seed {args.seed}), "
              f"{path.stat().st_size / n:.0f} B mean")
        decoder = Decoder()
        ceiling = best_rate("read + orjson.loads (ceiling)", n, lambda: _each(path, orjson.loads), args.repeat)
        decode = best_rate("read + Decoder.decode", n, lambda: _each(path, decoder.decode), args.repeat)
        full = best_rate("replay (all detectors, findings)", n,
                         lambda: replay([str(path)], config, io.BytesIO(), None), args.repeat)
        print(f"  ratios: replay / decode = {full / decode:.2f}, replay / parse ceiling = {full / ceiling:.3f}; "
              f"target ≥ 50,000 events/s: {'met' if full >= 50_000 else 'NOT met'}")

        findings = io.BytesIO()
        pipeline = Pipeline(config, emit=lambda f: findings.write(orjson.dumps(f) + b"\n"))
        for _, _, line in read_lines([str(path)]):
            event = decoder.decode(line)
            if isinstance(event, Employee):
                pipeline.directory(event)
            else:
                pipeline.telemetry(event)
        sizes = sorted(len(pipeline.engine.encode_state(s)) for s in pipeline.states.values())
        p99 = sizes[min(len(sizes) - 1, int(len(sizes) * 0.99))]
        print(f"state per employee (msgpack, after {args.days} days): p50 {statistics.median(sizes):.0f} B, "
              f"p99 {p99} B, max {sizes[-1]} B over {len(sizes):,} employees; target p99 ≤ 2,048 B: "
              f"{'met' if p99 <= 2048 else 'NOT met'}")
        key_sizes = [len(pipeline.engine.encode_key_state(s)) for s in pipeline.key_states.values()]
        print(f"key states: {len(key_sizes):,} keys, {sum(key_sizes) / 1024:.0f} KiB in all, "
              f"max {max(key_sizes, default=0)} B")


if __name__ == "__main__":
    main()
