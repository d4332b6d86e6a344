"""Detection quality over several seeds of the simulator (SPEC section 8): recall, false positives, time to detect.

    python benchmarks/eval_detection.py [--seeds 1 2 3 4 5] [--employees 2000] [--days 14] [--html DIR]
                                        [--extra-config FILE]

Each seed draws its own scenario parameters (counts, cities, tools, delays, slip
frequency, start days), so nothing can be tuned to one constant. For each seed:
simulate → replay (the same core as the worker) → eval. Prints each seed's table and
the pooled numbers against the targets: every planted operative found, ≤ 1 false
positive per 1,000 employees, median time to detect ≤ 8 simulated hours.
`--extra-config` appends a TOML file to each seed's configuration (e.g. a detector's
`[detectors.<id>] params = {...}`), to compare a setting against the defaults on the same seeds.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from telltales.schemas.config import parse
from telltales.streams.evaluate import evaluate, format_table, render_html
from telltales.streams.replay import replay
from telltales.streams.simulate import simulate


def run_seed(seed: int, employees: int, days: int, html_dir: Path | None, extra_config: str = "") -> dict:
    sim = simulate(employees=employees, days=days, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        paths = sim.write(Path(tmp))
        out = io.BytesIO()
        replay([str(paths["events"])], parse(sim.config_toml + "\n" + extra_config), out, None)
    findings = [orjson.loads(x) for x in out.getvalue().splitlines()]
    report = evaluate(findings, sim.labels)
    if html_dir is not None:
        html_dir.mkdir(parents=True, exist_ok=True)
        (html_dir / f"seed-{seed}.html").write_text(render_html(report, findings, sim.labels), "utf-8")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--employees", type=int, default=2000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--html", type=Path, help="write each seed's HTML report into this directory")
    parser.add_argument("--extra-config", type=Path, help="TOML appended to each seed's configuration")
    args = parser.parse_args()
    extra_config = args.extra_config.read_text("utf-8") if args.extra_config else ""

    operatives = found = false_positives = employees = 0
    ttds: list[float] = []
    missed: list[str] = []
    for seed in args.seeds:
        began = time.perf_counter()
        report = run_seed(seed, args.employees, args.days, args.html, extra_config)
        print(f"\n=== seed {seed} ({time.perf_counter() - began:.0f} s) ===")
        print(format_table(report))
        operatives += report["overall"]["operatives"]
        found += report["overall"]["found"]
        false_positives += report["false_positives"]["count"]
        employees += report["employees"]
        ttds += [o["ttd_h"] for o in report["operatives"].values() if o["ttd_h"] is not None]
        missed += [f"seed {seed}: {uid} ({o['scenario']})" for uid, o in report["operatives"].items() if not o["found"]]
    fp_per_1000 = false_positives / employees * 1000 if employees else 0.0
    median_ttd = statistics.median(ttds) if ttds else float("nan")
    print("\n=== pooled over seeds", " ".join(map(str, args.seeds)), "===")
    print(f"operatives found: {found}/{operatives} (target: all)  {'met' if found == operatives else 'NOT met'}")
    print(f"false positives: {false_positives} = {fp_per_1000:.2f} per 1,000 employees (target ≤ 1)  "
          f"{'met' if fp_per_1000 <= 1 else 'NOT met'}")
    print(f"time to detect: median {median_ttd:.1f} h (target ≤ 8 h)  {'met' if median_ttd <= 8 else 'NOT met'}")
    if missed:
        print("missed:", "; ".join(missed))


if __name__ == "__main__":
    main()
