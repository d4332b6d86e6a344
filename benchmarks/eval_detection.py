"""Detection quality over several seeds of the simulator (SPEC section 8): recall, false positives, time to detect.

    python benchmarks/eval_detection.py [--seeds 1 2 3 4 5] [--employees 2000] [--days 14] [--html DIR]
                                        [--extra-config FILE] [--explain]

Each seed draws its own scenario parameters (counts, cities, tools, delays, slip
frequency, start days), so nothing can be tuned to one constant. For each seed:
simulate → replay (the same core as the worker) → eval. Prints each seed's table and
the pooled numbers against the targets: every planted operative found, ≤ 1 false
positive per 1,000 employees, median time to detect ≤ 8 simulated hours.
`--extra-config` appends a TOML file to each seed's configuration (e.g. a detector's
`[detectors.<id>] params = {...}`), to compare a setting against the defaults on the same seeds.
`--explain` prints, for every missed operative and every false positive, what the
detectors said about them and the fused risk at its peak: why a miss stayed under the
create threshold, and what carried a false positive over it; then the hard negatives
closest to a case (non-operatives whose risk reached `NEAR_RISK` without one), which show
how little room a lower threshold or a looser rule would have.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from telltales.detectors.engine import Engine
from telltales.schemas.config import parse
from telltales.streams.evaluate import evaluate, format_table, parse_time_ms, render_html
from telltales.streams.geoip import open_enricher
from telltales.streams.replay import replay
from telltales.streams.simulate import simulate

NEAR_RISK = 40.0  # --explain lists non-operatives whose risk peaked at or above this without a case


class TracingEngine(Engine):
    """The replay's engine, also keeping every fused signal and the risk after it, per employee (for `--explain`)."""

    def __init__(self, config) -> None:
        super().__init__(config, enrich=open_enricher(config.geoip))
        self.trace: dict[str, list[tuple[float, float, list]]] = {}

    def fuse(self, state, signals, employee_id):
        state, changes = super().fuse(state, signals, employee_id)
        now = max(max(s.time for s in signals), state.fusion.case.last_seen)
        self.trace.setdefault(employee_id, []).append((now, self.fusion.risk(state.fusion, now), signals))
        return state, changes


def run_seed(seed: int, employees: int, days: int, html_dir: Path | None, extra_config: str = "",
             explain: bool = False) -> dict:
    sim = simulate(employees=employees, days=days, seed=seed)
    config = parse(sim.config_toml + "\n" + extra_config)
    engine = TracingEngine(config) if explain else None
    with tempfile.TemporaryDirectory() as tmp:
        paths = sim.write(Path(tmp))
        out = io.BytesIO()
        replay([str(paths["events"])], config, out, None, engine=engine)
    findings = [orjson.loads(x) for x in out.getvalue().splitlines()]
    report = evaluate(findings, sim.labels)
    if html_dir is not None:
        html_dir.mkdir(parents=True, exist_ok=True)
        (html_dir / f"seed-{seed}.html").write_text(render_html(report, findings, sim.labels), "utf-8")
    if engine is not None:
        report["explained"] = explain_employees(report, sim.labels, engine)
    return report


def explain_employees(report: dict, labels: dict, engine: TracingEngine) -> str:
    """What the detectors said about each missed operative and each false positive, and their risk at its peak."""
    operatives = labels["operatives"]
    blocks = []
    for uid in [u for u, o in report["operatives"].items() if not o["found"]] + report["false_positives"]["ids"]:
        truth = operatives.get(uid)
        trace = engine.trace.get(uid, [])
        if truth is not None:
            start = parse_time_ms(truth["first_telling_time"]) / 1000 if truth["first_telling_time"] else None
            head = f"{uid} MISSED {truth['scenario']} {orjson.dumps(truth['params']).decode()}"
        else:
            start = None
            head = f"{uid} FALSE POSITIVE, cohorts: {', '.join(labels['cohorts'].get(uid, ['(none)']))}"
        start = start or (trace[0][0] if trace else 0.0)
        lines = [head]
        if trace:
            peak_time, peak_risk, _ = max(trace, key=lambda entry: entry[1])
            lines.append(f"  peak risk {peak_risk:.1f} at {_hours(peak_time - start)} (threshold "
                         f"{engine.fusion.create_threshold:g})")
        per_detector: dict[str, list] = {}
        for when, _, signals in trace:
            for signal in signals:
                kind = signal.data.get("kind")
                key = f"{signal.detector}{f' ({kind})' if kind else ''}"
                entry = per_detector.setdefault(key, [0, when, when, 0.0, signal.summary])
                entry[0] += 1
                entry[2] = when
                if signal.score > entry[3]:
                    entry[3], entry[4] = signal.score, signal.summary
        for key, (count, first, last, best, summary) in per_detector.items():
            lines.append(f"  {key}: {count} signals {_hours(first - start)} … {_hours(last - start)}, "
                         f"max score {best:.2f}: {summary[:160]}")
        blocks.append("\n".join(lines))
    flagged = set(report["false_positives"]["ids"])
    for uid, trace in sorted(engine.trace.items()):
        if uid in operatives or uid in flagged or not trace:
            continue
        peak_time, peak_risk, _ = max(trace, key=lambda entry: entry[1])
        if peak_risk >= NEAR_RISK:
            detectors = sorted({s.detector for _, _, signals in trace for s in signals})
            blocks.append(f"{uid} near: peak risk {peak_risk:.1f}, no case; cohorts: "
                          f"{', '.join(labels['cohorts'].get(uid, ['(none)']))}; detectors: {', '.join(detectors)}")
    return "\n".join(blocks)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:+.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--employees", type=int, default=2000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--html", type=Path, help="write each seed's HTML report into this directory")
    parser.add_argument("--extra-config", type=Path, help="TOML appended to each seed's configuration")
    parser.add_argument("--explain", action="store_true",
                        help="print the signals and peak risk of every missed operative and false positive")
    args = parser.parse_args()
    extra_config = args.extra_config.read_text("utf-8") if args.extra_config else ""

    operatives = found = false_positives = employees = 0
    ttds: list[float] = []
    missed: list[str] = []
    for seed in args.seeds:
        began = time.perf_counter()
        report = run_seed(seed, args.employees, args.days, args.html, extra_config, args.explain)
        print(f"\n=== seed {seed} ({time.perf_counter() - began:.0f} s) ===")
        print(format_table(report))
        if report.get("explained"):
            print(report["explained"])
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
