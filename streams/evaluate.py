"""`telltales eval FINDINGS LABELS`: how well findings match the simulator's ground truth — recall, false positives, time to detect.

FINDINGS is JSONL of OCSF Detection Findings (SPEC §6) from any producer; only these
fields are read: ``actor.user.uid`` (the employee), ``time`` (epoch ms of the newest
evidence), ``activity_id`` (1 Create, 2 Update, 3 Close), ``risk_score``,
``evidences[].data.detector``. LABELS is the ``labels.json`` of `telltales simulate`.

Definitions (the numbers in the table, the JSON and the HTML are the same):

- *flagged*: at least one finding with ``activity_id`` 1 (Create) names the employee.
- *found*: a flagged operative; *recall* = found / operatives of the scenario.
- *false positive*: a flagged employee who is not an operative; reported as a count and
  per 1,000 employees (the ``employees`` count of the labels), broken down by the
  hard-negative cohorts the labels list.
- *time to detect* (hours): the earliest Create time minus the operative's
  ``first_telling_time``, for found operatives; median and 90th percentile use linear
  interpolation between order statistics (numpy's default).
- *detectors*: per scenario, for each detector id, how many found operatives have at
  least one finding (of any activity) whose evidence names it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Final, Iterable

REPORT_FORMAT: Final = 1
KNOWN_SCENARIOS: Final = ("laptop_farm", "remote_control", "vpn_offshore", "dormant_hijack", "quiet")
CREATE, UPDATE, CLOSE = 1, 2, 3


class EvalError(ValueError):
    """Input that cannot be evaluated (unreadable labels, wrong format); the message says why."""


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolation percentile (numpy's default), q in [0, 1]; None for no values.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5), percentile([1.0, 2.0, 3.0, 4.0], 0.9)
    (2.5, 3.7)
    >>> percentile([], 0.5) is None
    True
    """
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
    return round(value, 10)


def parse_time_ms(value: str) -> int:
    """Epoch ms of an RFC 3339 time (as the labels write it)."""
    text = value.replace("z", "Z").replace("Z", "+00:00")
    return int(round(dt.datetime.fromisoformat(text).timestamp() * 1000))


def load_findings(lines: Iterable[bytes | str]) -> tuple[list[dict[str, Any]], int]:
    """Parse findings JSONL; returns (findings that name an employee, count of unusable lines)."""
    findings: list[dict[str, Any]] = []
    unusable = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            finding = json.loads(line)
        except ValueError:
            unusable += 1
            continue
        if not isinstance(finding, dict) or _employee(finding) is None:
            unusable += 1
            continue
        findings.append(finding)
    return findings, unusable


def _employee(finding: dict[str, Any]) -> str | None:
    actor = finding.get("actor")
    user = actor.get("user") if isinstance(actor, dict) else None
    uid = user.get("uid") if isinstance(user, dict) else None
    return uid if isinstance(uid, str) and uid else None


def _time_ms(finding: dict[str, Any]) -> float | None:
    value = finding.get("time")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _detectors(finding: dict[str, Any]) -> list[str]:
    names = []
    evidences = finding.get("evidences")
    for evidence in evidences if isinstance(evidences, list) else ():
        data = evidence.get("data") if isinstance(evidence, dict) else None
        detector = data.get("detector") if isinstance(data, dict) else None
        if isinstance(detector, str) and detector not in names:
            names.append(detector)
    return names


def evaluate(findings: list[dict[str, Any]], labels: dict[str, Any], *, unusable: int = 0) -> dict[str, Any]:
    """The evaluation report (a JSON-ready dict) of findings against labels."""
    if not isinstance(labels, dict) or labels.get("format") != 1 or not isinstance(labels.get("operatives"), dict):
        raise EvalError("labels: not a telltales labels file (format 1 with an `operatives` table)")
    employees = int(labels.get("employees") or 0)
    operatives: dict[str, dict[str, Any]] = labels["operatives"]
    first_create: dict[str, float] = {}
    detectors_of: dict[str, set[str]] = {}
    for finding in findings:
        uid = _employee(finding)
        detectors_of.setdefault(uid, set()).update(_detectors(finding))
        if finding.get("activity_id") == CREATE:
            t = _time_ms(finding)
            previous = first_create.get(uid)
            if previous is None or (t is not None and (math.isnan(previous) or t < previous)):
                first_create[uid] = t if t is not None else math.nan
    per_operative: dict[str, dict[str, Any]] = {}
    for uid in sorted(operatives):
        truth = operatives[uid]
        found = uid in first_create
        ttd = None
        first_tell = truth.get("first_telling_time")
        if found and first_tell and not math.isnan(first_create[uid]):
            ttd = round((first_create[uid] - parse_time_ms(first_tell)) / 3_600_000, 4)
        per_operative[uid] = {"scenario": truth.get("scenario"), "group": truth.get("group"), "found": found,
                              "first_create_ms": None if not found or math.isnan(first_create[uid]) else first_create[uid],
                              "ttd_h": ttd, "detectors": sorted(detectors_of.get(uid, ())) if found else []}
    present = {o["scenario"] for o in per_operative.values()}
    order = [s for s in KNOWN_SCENARIOS if s in present] + sorted(present - set(KNOWN_SCENARIOS), key=str)
    rows = [_row(str(s), [(uid, o) for uid, o in per_operative.items() if o["scenario"] == s]) for s in order]
    fp_ids = sorted(uid for uid in first_create if uid not in operatives)
    cohorts_of = labels.get("cohorts") or {}
    cohorts = Counter(tag for uid in fp_ids for tag in (cohorts_of.get(uid) or ["(none)"]))
    per_1000 = round(len(fp_ids) / employees * 1000, 4) if employees else None
    overall = _row("overall", list(per_operative.items()))
    overall.update(false_positives=len(fp_ids), fp_per_1000=per_1000)
    return {
        "format": REPORT_FORMAT, "seed": labels.get("seed"), "employees": employees, "days": labels.get("days"),
        "start": labels.get("start"), "end": labels.get("end"), "findings": len(findings), "unusable_lines": unusable,
        "flagged": len(first_create), "scenarios": rows, "overall": overall,
        "false_positives": {"count": len(fp_ids), "per_1000": per_1000, "ids": fp_ids,
                            "cohorts": dict(sorted(cohorts.items(), key=lambda kv: (-kv[1], kv[0])))},
        "operatives": per_operative,
    }


def _row(name: str, ops: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    found = [o for _, o in ops if o["found"]]
    ttds = [o["ttd_h"] for o in found if o["ttd_h"] is not None]
    detectors = Counter(d for o in found for d in o["detectors"])
    return {"scenario": name, "operatives": len(ops), "found": len(found),
            "recall": round(len(found) / len(ops), 4) if ops else None,
            "ttd_median_h": _round(percentile(ttds, 0.5)), "ttd_p90_h": _round(percentile(ttds, 0.9)),
            "detectors": dict(sorted(detectors.items(), key=lambda kv: (-kv[1], kv[0]))),
            "missed": [uid for uid, o in ops if not o["found"]]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def format_table(report: dict[str, Any]) -> str:
    """The report as a fixed-width table for a terminal."""
    def num(value, fmt):
        return "-" if value is None else format(value, fmt)

    header = f"{'scenario':<16} {'operatives':>10} {'found':>6} {'recall':>7} {'ttd_median_h':>13} {'ttd_p90_h':>10}  detectors"
    lines = [header, "-" * len(header)]
    for row in [*report["scenarios"], report["overall"]]:
        if row is report["overall"]:
            lines.append("-" * len(header))
        detectors = ", ".join(f"{d} {n}" for d, n in row["detectors"].items()) or "-"
        lines.append(f"{row['scenario']:<16} {row['operatives']:>10} {row['found']:>6} {num(row['recall'], '.3f'):>7} "
                     f"{num(row['ttd_median_h'], '.2f'):>13} {num(row['ttd_p90_h'], '.2f'):>10}  {detectors}")
    fp = report["false_positives"]
    cohorts = ", ".join(f"{c} {n}" for c, n in fp["cohorts"].items())
    lines.append("")
    lines.append(f"false positives: {fp['count']} flagged non-operatives = {num(fp['per_1000'], '.2f')} per 1,000 employees "
                 f"({report['employees']:,} employees)" + (f"; cohorts: {cohorts}" if cohorts else ""))
    missed = [uid for uid, o in report["operatives"].items() if not o["found"]]
    if missed:
        lines.append("missed: " + ", ".join(f"{uid} ({report['operatives'][uid]['scenario']})" for uid in missed))
    lines.append(f"findings read: {report['findings']}" +
                 (f" ({report['unusable_lines']} unusable lines skipped)" if report["unusable_lines"] else "") +
                 f"; employees flagged: {report['flagged']}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# HTML


_PALETTE: Final = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                   "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173")
_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 760, 150, 44, 12, 12, 26


def render_html(report: dict[str, Any], findings: list[dict[str, Any]], labels: dict[str, Any], *, max_charts: int = 300) -> str:
    """A self-contained HTML page: the table, then risk over time per flagged employee with detectors marked."""
    esc = html.escape
    by_employee: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        if _time_ms(f) is not None:
            by_employee.setdefault(_employee(f), []).append(f)
    detectors = sorted({d for fs in by_employee.values() for f in fs for d in _detectors(f)})
    colour = {d: _PALETTE[i % len(_PALETTE)] for i, d in enumerate(detectors)}
    start_ms = parse_time_ms(f"{labels.get('start')}T00:00:00Z") if labels.get("start") else None
    end_ms = parse_time_ms(f"{labels.get('end')}T00:00:00Z") if labels.get("end") else None
    operatives = labels.get("operatives", {})
    cohorts = labels.get("cohorts") or {}
    flagged_ops = [uid for uid, o in report["operatives"].items() if o["found"]]
    flagged_ops.sort(key=lambda uid: (KNOWN_SCENARIOS.index(operatives[uid]["scenario"])
                                      if operatives[uid]["scenario"] in KNOWN_SCENARIOS else 99, uid))
    charts = []
    for uid in flagged_ops + report["false_positives"]["ids"]:
        if len(charts) >= max_charts:
            break
        series = sorted(by_employee.get(uid, []), key=lambda f: _time_ms(f))
        if uid in operatives:
            o = operatives[uid]
            ttd = report["operatives"][uid]["ttd_h"]
            title = (f"{esc(uid)} — operative: <b>{esc(str(o['scenario']))}</b>" +
                     (f" ({esc(str(o['group']))})" if o.get("group") else "") +
                     (f" — detected {ttd:.2f} h after the first tell" if ttd is not None else ""))
            kind, tell = "operative", o.get("first_telling_time")
        else:
            tags = ", ".join(cohorts.get(uid) or []) or "no cohort"
            title = f"{esc(uid)} — <b>false positive</b> ({esc(tags)})"
            kind, tell = "fp", None
        charts.append(f'<div class="chart {kind}"><h3>{title}</h3>'
                      f'{_svg(series, colour, start_ms, end_ms, parse_time_ms(tell) if tell else None)}</div>')
    more = len(flagged_ops) + report["false_positives"]["count"] - len(charts)
    legend = " ".join(f'<span class="key"><i style="background:{colour[d]}"></i>{esc(d)}</span>' for d in detectors)
    missed = [f"<li>{esc(uid)} ({esc(str(o['scenario']))})</li>" for uid, o in report["operatives"].items() if not o["found"]]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>telltales eval</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1000px; }}
pre {{ background: #f6f6f6; padding: 12px; overflow-x: auto; font-size: 12px; }}
.chart {{ border-left: 4px solid #888; padding: 4px 12px; margin: 14px 0; }}
.chart.operative {{ border-color: #2a7; }} .chart.fp {{ border-color: #d33; }}
h3 {{ font-size: 14px; font-weight: normal; margin: 4px 0; }}
.key {{ margin-right: 12px; white-space: nowrap; }} .key i {{ display: inline-block; width: 10px; height: 10px; margin-right: 4px; }}
</style></head><body>
<h1>telltales eval</h1>
<p>Seed {esc(str(report.get('seed')))}, {report['employees']:,} employees, {esc(str(report.get('days')))} days from {esc(str(report.get('start')))}.
Green: planted operatives found; red: false positives. Line: risk score of each finding over time; dots: findings
(filled = Create); coloured ticks: the first finding citing each detector; dashed line: the first telling event.</p>
<pre>{esc(format_table(report))}</pre>
{'<h2>Missed operatives</h2><ul>' + ''.join(missed) + '</ul>' if missed else ''}
<h2>Risk over time per flagged employee</h2>
<p>{legend}</p>
{''.join(charts)}
{f'<p>{more} more flagged employees not drawn.</p>' if more > 0 else ''}
</body></html>
"""


def _svg(series: list[dict[str, Any]], colour: dict[str, str], start_ms: float | None, end_ms: float | None,
         tell_ms: float | None) -> str:
    times = [_time_ms(f) for f in series]
    lo = min([t for t in (start_ms, *times, tell_ms) if t is not None], default=0.0)
    hi = max([t for t in (end_ms, *times, tell_ms) if t is not None], default=lo + 1)
    hi = max(hi, lo + 1)
    plot_w, plot_h = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B

    def x(t: float) -> float:
        return round(_PAD_L + (t - lo) / (hi - lo) * plot_w, 1)

    def y(risk: float) -> float:
        return round(_PAD_T + (1 - max(0.0, min(100.0, risk)) / 100) * plot_h, 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}">',
             f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>']
    for risk in (0, 50, 100):
        parts.append(f'<text x="{_PAD_L - 6}" y="{y(risk) + 4}" font-size="10" text-anchor="end">{risk}</text>')
    day = 86_400_000
    first_day = math.ceil(lo / day) * day
    step = day * max(1, math.ceil((hi - lo) / day / 14))
    t = first_day
    while t <= hi:
        label = dt.datetime.fromtimestamp(t / 1000, dt.timezone.utc).strftime("%m-%d")
        parts.append(f'<line x1="{x(t)}" y1="{_PAD_T}" x2="{x(t)}" y2="{_PAD_T + plot_h}" stroke="#eee"/>'
                     f'<text x="{x(t)}" y="{_H - 8}" font-size="10" text-anchor="middle">{label}</text>')
        t += step
    if tell_ms is not None:
        parts.append(f'<line x1="{x(tell_ms)}" y1="{_PAD_T}" x2="{x(tell_ms)}" y2="{_PAD_T + plot_h}" '
                     f'stroke="#2a7" stroke-dasharray="4 3"><title>first telling event</title></line>')
    points = []
    for f in series:
        risk = f.get("risk_score")
        if isinstance(risk, (int, float)) and not isinstance(risk, bool):
            points.append((x(_time_ms(f)), y(float(risk))))
    if points:
        path = [f"M{points[0][0]},{points[0][1]}"]
        for x1, y1 in points[1:]:  # a step line: risk holds until the next finding
            path.append(f"H{x1}V{y1}")
        parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="#444" stroke-width="1.5"/>')
    seen: set[str] = set()
    for f in series:
        tx = x(_time_ms(f))
        risk = f.get("risk_score")
        ry = y(float(risk)) if isinstance(risk, (int, float)) and not isinstance(risk, bool) else y(0)
        names = _detectors(f)
        activity = f.get("activity_id")
        fill = "#444" if activity == CREATE else "#fff"
        tip = html.escape(f"activity {activity}, risk {risk}, detectors: {', '.join(names) or '-'}")
        parts.append(f'<circle cx="{tx}" cy="{ry}" r="3.5" fill="{fill}" stroke="#444"><title>{tip}</title></circle>')
        offset = 0
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            offset += 1
            parts.append(f'<rect x="{tx - 1.5}" y="{_PAD_T + plot_h - 8 * offset}" width="3" height="7" '
                         f'fill="{colour.get(name, "#000")}"><title>{html.escape(name)}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# Command line


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="score findings against simulator labels: recall, false positives, time to detect",
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("findings", metavar="FINDINGS", help="findings JSONL (OCSF Detection Findings); - for stdin")
    parser.add_argument("labels", metavar="LABELS", type=Path, help="labels.json written by telltales simulate")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers as JSON")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML report")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        labels = json.loads(Path(args.labels).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        print(f"telltales eval: cannot read labels {args.labels}: {exc}", file=sys.stderr)
        return 2
    try:
        if args.findings == "-":
            findings, unusable = load_findings(sys.stdin.buffer)
        else:
            with open(args.findings, "rb") as fh:
                findings, unusable = load_findings(fh)
    except OSError as exc:
        print(f"telltales eval: cannot read findings {args.findings}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        report = evaluate(findings, labels, unusable=unusable)
    except EvalError as exc:
        print(f"telltales eval: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(format_table(report))
    for path, render in ((args.json, lambda: json.dumps(report, indent=1) + "\n"),
                         (args.html, lambda: render_html(report, findings, labels))):
        if path is None:
            continue
        try:
            path.write_text(render(), "utf-8")
        except OSError as exc:
            print(f"telltales eval: cannot write {path}: {exc.strerror}", file=sys.stderr)
            return 2
    return 0
