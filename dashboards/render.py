"""Draws a generated Grafana dashboard's panels to a PNG from a real Prometheus, with matplotlib (no Grafana needed).

    python dashboards/render.py dashboards/telltales-pipeline-health.json \\
        --prometheus http://127.0.0.1:9090 --minutes 15 --out pipeline.png
    python dashboards/render.py dashboards/telltales-detector-drilldown.json \\
        --var detector=ip_kvm --var detector=anonymizer --out drilldown.png

Each panel's expressions go through Prometheus' HTTP API — `query_range` for time
series, an instant `query` at the end of the range for stat and bar panels — with
Grafana's built-in variables (`$__rate_interval`, `$__interval`, `$__range`) and the
dashboard's template variables filled in the way Grafana fills them. The panels keep
their grid positions, so the picture is laid out like the dashboard.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import re
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

GRID_WIDTH: Final = 24
FIGURE_WIDTH_IN: Final = 18.0
ROW_UNIT_IN: Final = FIGURE_WIDTH_IN / GRID_WIDTH * 0.45  # Grafana: a grid row is 30 px, a column ~66 px
BACKGROUND: Final = "#111217"
PANEL: Final = "#181b1f"
TEXT: Final = "#ccccdc"
GRID: Final = "#2c3235"
# Grafana's classic colours, as many as there are detectors (13) and then some, so no two lines of a panel share one.
PALETTE: Final = ("#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#ff780a",
                  "#96d98d", "#fade2a", "#ca95e5", "#ffa6b0", "#6ed0e0", "#c4162a", "#1f60c4", "#e0b400")
DPI: Final = 110
PNG_COLORS: Final = 96
COLORS: Final = {"green": "#73bf69", "red": "#f2495c", "orange": "#ff9830", "yellow": "#fade2a"}


@dataclass
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix seconds, value); NaN values dropped


@dataclass
class Query:
    panel: str
    ref_id: str
    expr: str  # with every variable filled in
    legend: str
    instant: bool
    series: list[Series] = field(default_factory=list)

    def nonzero(self) -> bool:
        """True when some series has a finite, non-zero value."""
        return any(v != 0 and math.isfinite(v) for s in self.series for _, v in s.points)


def grafana_variables(dashboard: dict[str, Any], start: float, end: float, *, step: float,
                      scrape_interval: float, values: dict[str, str | list[str]] | None = None) -> dict[str, str]:
    """Variable name → text, as Grafana would substitute it into a Prometheus query."""
    rate_interval = max(step + scrape_interval, 4 * scrape_interval)  # Grafana's $__rate_interval rule
    filled = {"__rate_interval": _duration(rate_interval), "__interval": _duration(step),
              "__range": _duration(end - start)}
    values = values or {}
    for variable in dashboard.get("templating", {}).get("list", []):
        name = variable["name"]
        if variable.get("type") == "datasource":
            continue
        chosen = values.get(name, "$__all")
        chosen = [chosen] if isinstance(chosen, str) else list(chosen)
        if "$__all" in chosen or "All" in chosen:
            filled[name] = variable.get("allValue") or ".*"
        elif len(chosen) == 1:
            filled[name] = re.escape(chosen[0])
        else:
            filled[name] = "(" + "|".join(re.escape(c) for c in chosen) + ")"
    return filled


def substitute(expr: str, variables: dict[str, str]) -> str:
    """Replace `$name` and `${name}` by their values (longest names first, so `$__range` is not `$__r…`)."""
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", variables[name]).replace("$" + name, variables[name])
    if "$" in expr:
        raise ValueError(f"unfilled variable in {expr!r}")
    return expr


def queries(dashboard: dict[str, Any], start: float, end: float, *, step: float | None = None,
            scrape_interval: float = 15.0, values: dict[str, str | list[str]] | None = None) -> list[Query]:
    """Every target of every panel, its variables filled in, not yet run."""
    step = step or default_step(start, end)
    variables = grafana_variables(dashboard, start, end, step=step, scrape_interval=scrape_interval, values=values)
    found = []
    for panel in _panels(dashboard):
        for t in panel.get("targets", []):
            instant = bool(t.get("instant")) and not t.get("range", False)
            found.append(Query(panel["title"], t["refId"], substitute(t["expr"], variables),
                               t.get("legendFormat", ""), instant))
    return found


def run(query: Query, prometheus_url: str, start: float, end: float, step: float, *, timeout: float = 10.0) -> Query:
    """Run one query against Prometheus; fills and returns `query.series`. Raises on a Prometheus error."""
    if query.instant:
        data = _api(prometheus_url, "query", {"query": query.expr, "time": f"{end:.3f}"}, timeout)
        query.series = [Series(r["metric"], _finite([r["value"]])) for r in data["result"]]
    else:
        data = _api(prometheus_url, "query_range",
                    {"query": query.expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}, timeout)
        query.series = [Series(r["metric"], _finite(r["values"])) for r in data["result"]]
    return query


def render(dashboard_json: dict[str, Any] | str | Path, prometheus_url: str, start: float, end: float,
           out_png: str | Path, *, step: float | None = None, scrape_interval: float = 15.0,
           values: dict[str, str | list[str]] | None = None) -> list[Query]:
    """Draw every panel of a dashboard from `prometheus_url` over [start, end] (unix seconds) to `out_png`.

    `dashboard_json` is the parsed dashboard, its JSON text, or a path to the file;
    `scrape_interval` is the Prometheus job's, for `$__rate_interval`; `values` picks
    template-variable values (default: All). Returns the queries with their results.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dashboard = _load(dashboard_json)
    step = step or default_step(start, end)
    all_queries = queries(dashboard, start, end, step=step, scrape_interval=scrape_interval, values=values)
    by_panel: dict[str, list[Query]] = {}
    for q in all_queries:
        by_panel.setdefault(q.panel, []).append(run(q, prometheus_url, start, end, step))

    panels = list(_panels(dashboard, rows=True))
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    header_in = 0.6
    height_in = bottom * ROW_UNIT_IN + header_in
    fig = plt.figure(figsize=(FIGURE_WIDTH_IN, height_in), facecolor=BACKGROUND)
    span = f"{_utc(start)} – {_utc(end)} UTC"
    fig.text(0.01, 1 - 0.35 / height_in, dashboard.get("title", ""), color=TEXT, fontsize=15, weight="bold",
             va="center")
    fig.text(0.99, 1 - 0.35 / height_in, f"{span}  ·  {prometheus_url}", color=TEXT, fontsize=9, ha="right",
             va="center", alpha=0.7)
    for panel in panels:
        g = panel["gridPos"]
        pad_x, pad_y = 0.004, 0.06 / height_in
        left = g["x"] / GRID_WIDTH + pad_x
        width = g["w"] / GRID_WIDTH - 2 * pad_x
        top = 1 - (header_in + g["y"] * ROW_UNIT_IN) / height_in
        height = g["h"] * ROW_UNIT_IN / height_in
        if panel["type"] == "row":
            fig.text(left, top - height / 2, panel["title"], color=TEXT, fontsize=12, weight="bold", va="center")
            continue
        frame = fig.add_axes((left, top - height + pad_y, width, height - 2 * pad_y))
        frame.set_facecolor(PANEL)
        frame.set_xticks([])
        frame.set_yticks([])
        for spine in frame.spines.values():
            spine.set_color(GRID)
        frame.text(0.008, 0.985, panel["title"], color=TEXT, fontsize=9.5, weight="bold", ha="left", va="top",
                   transform=frame.transAxes)
        results = by_panel.get(panel["title"], [])
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
        if panel["type"] == "timeseries":
            _draw_timeseries(fig, frame, panel, results, unit, start, end)
        elif panel["type"] == "stat":
            _draw_stat(frame, panel, results, unit)
        elif panel["type"] == "bargauge":
            _draw_bars(frame, results, unit)
    _save(fig, Path(out_png))
    plt.close(fig)
    return all_queries


# Drawing ----------------------------------------------------------------------------------------
def _draw_timeseries(fig, frame, panel, results: list[Query], unit: str, start: float, end: float) -> None:
    import matplotlib.dates as mdates

    box = frame.get_position()
    plot = fig.add_axes((box.x0 + box.width * 0.07, box.y0 + box.height * 0.30, box.width * 0.9,
                         box.height * 0.58))
    plot.set_facecolor(PANEL)
    plot.tick_params(colors=TEXT, labelsize=7)
    for spine in plot.spines.values():
        spine.set_color(GRID)
    plot.grid(color=GRID, linewidth=0.5)
    lines = [(q, s) for q in results for s in q.series if s.points]
    stacked = panel["fieldConfig"]["defaults"]["custom"].get("stacking", {}).get("mode") == "normal"
    if not lines:
        plot.text(0.5, 0.5, "No data", color=TEXT, ha="center", va="center", transform=plot.transAxes)
    base: dict[float, float] = {}
    for i, (query, series) in enumerate(lines):
        color = PALETTE[i % len(PALETTE)]
        times = [dt.datetime.fromtimestamp(t, dt.timezone.utc) for t, _ in series.points]
        values = [_scale(v, unit) for _, v in series.points]
        if stacked:  # each series drawn on top of the ones before it, the band between filled
            below = [base.get(t, 0.0) for t, _ in series.points]
            values = [v + b for v, b in zip(values, below)]
            base.update({t: v for (t, _), v in zip(series.points, values)})
            plot.fill_between(times, below, values, color=color, alpha=0.35, linewidth=0)
        plot.plot(times, values, color=color, linewidth=1.3, label=_legend(query.legend, series.labels),
                  marker="o" if len(times) < 3 else None, markersize=3)
    for step in panel["fieldConfig"]["defaults"]["thresholds"]["steps"][1:]:
        if panel["fieldConfig"]["defaults"]["custom"].get("thresholdsStyle", {}).get("mode") == "line":
            plot.axhline(_scale(step["value"], unit), color=COLORS.get(step["color"], step["color"]),
                         linestyle="--", linewidth=1)
    plot.set_xlim(dt.datetime.fromtimestamp(start, dt.timezone.utc), dt.datetime.fromtimestamp(end, dt.timezone.utc))
    plot.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S" if end - start < 3600 else "%m-%d %H:%M"))
    plot.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=6))
    plot.set_ylabel(_unit_label(unit), color=TEXT, fontsize=7)
    if lines:
        plot.legend(loc="upper left", bbox_to_anchor=(0, -0.16), ncol=min(4, len(lines)), fontsize=6.5,
                    frameon=False, labelcolor=TEXT, handlelength=1.2)


def _draw_stat(frame, panel, results: list[Query], unit: str) -> None:
    values = [(q, s, s.points[-1][1]) for q in results for s in q.series if s.points]
    if not values:
        frame.text(0.5, 0.45, "No data", color=TEXT, ha="center", va="center", fontsize=14, transform=frame.transAxes)
        return
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    for i, (query, series, value) in enumerate(values[:3]):
        color = steps[0]["color"]
        for step in steps[1:]:
            if value >= step["value"]:
                color = step["color"]
        y = 0.45 - 0.3 * i if len(values) > 1 else 0.42
        frame.text(0.5, y, _format(value, unit), color=COLORS.get(color, color), ha="center", va="center",
                   fontsize=24 if len(values) == 1 else 14, weight="bold", transform=frame.transAxes)


def _draw_bars(frame, results: list[Query], unit: str) -> None:
    bars = sorted(((_legend(q.legend, s.labels), s.points[-1][1]) for q in results for s in q.series if s.points),
                  key=lambda item: item[1])
    if not bars:
        frame.text(0.5, 0.5, "No data", color=TEXT, ha="center", va="center", transform=frame.transAxes)
        return
    box = frame.get_position()
    fig = frame.figure
    plot = fig.add_axes((box.x0 + box.width * 0.25, box.y0 + box.height * 0.08, box.width * 0.62,
                         box.height * 0.78))
    plot.set_facecolor(PANEL)
    plot.barh([b[0] for b in bars], [_scale(b[1], unit) for b in bars], color=PALETTE[2])
    plot.tick_params(colors=TEXT, labelsize=7)
    for spine in plot.spines.values():
        spine.set_color(GRID)
    for i, (_, value) in enumerate(bars):
        plot.text(_scale(value, unit), i, " " + _format(value, unit), color=TEXT, va="center", fontsize=7)


def _save(fig, out_png: Path) -> None:
    """Write an 8-bit palette PNG: flat dark panels need few colours, and a picture in the README stays small."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor=BACKGROUND)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    Image.open(buffer).convert("RGB").quantize(PNG_COLORS).save(out_png, optimize=True)


# Helpers ----------------------------------------------------------------------------------------
def default_step(start: float, end: float) -> float:
    """About 240 points per series, never finer than a second."""
    return float(max(1, math.ceil((end - start) / 240)))


def _panels(dashboard: dict[str, Any], *, rows: bool = False):
    for panel in dashboard.get("panels", []):
        if panel["type"] == "row":
            if rows:
                yield panel
            yield from panel.get("panels", [])  # a collapsed row keeps its panels inside
        else:
            yield panel


def _load(dashboard_json: dict[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(dashboard_json, dict):
        return dashboard_json
    if isinstance(dashboard_json, Path) or not str(dashboard_json).lstrip().startswith("{"):
        return json.loads(Path(dashboard_json).read_text("utf-8"))
    return json.loads(dashboard_json)


def _api(base: str, path: str, params: dict[str, str], timeout: float) -> dict[str, Any]:
    url = f"{base.rstrip('/')}/api/v1/{path}"
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}")
        raise RuntimeError(f"Prometheus rejected {params['query']!r}: {body.get('error', exc)}") from None
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus rejected {params['query']!r}: {body.get('error')}")
    return body["data"]


def _finite(values: list[list[Any]]) -> list[tuple[float, float]]:
    points = [(float(t), float(v)) for t, v in values]
    return [(t, v) for t, v in points if math.isfinite(v)]


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


def _legend(fmt: str, labels: dict[str, str]) -> str:
    if not fmt or fmt == "__auto":
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__") or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


def _scale(value: float, unit: str) -> float:
    return value * 100 if unit == "percentunit" else value / 2**20 if unit == "bytes" else value


def _unit_label(unit: str) -> str:
    return {"s": "seconds", "ops": "per second", "bytes": "MiB", "percentunit": "%"}.get(unit, "")


def _format(value: float, unit: str) -> str:
    scaled = _scale(value, unit)
    suffix = {"s": " s", "ops": "/s", "bytes": " MiB", "percentunit": "%"}.get(unit, "")
    if abs(scaled) >= 100 or scaled == int(scaled):
        return f"{scaled:,.0f}{suffix}"
    return f"{scaled:.3g}{suffix}"


def _utc(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dashboard", type=Path)
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--minutes", type=float, default=15.0, help="length of the range (default 15)")
    parser.add_argument("--end", type=float, help="end of the range, unix seconds (default: now)")
    parser.add_argument("--step", type=float, help="seconds between points (default: the range / 240, at least 1)")
    parser.add_argument("--scrape-interval", type=float, default=15.0, help="the job's scrape interval, seconds")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="a template variable's value, e.g. detector=ip_kvm; repeat for several (default: All)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    values: dict[str, list[str]] = {}
    for assignment in args.var:
        name, sep, value = assignment.partition("=")
        if not sep or not name:
            parser.error(f"--var {assignment!r}: expected NAME=VALUE")
        values.setdefault(name, []).append(value)
    end = time.time() if args.end is None else args.end
    results = render(args.dashboard, args.prometheus, end - args.minutes * 60, end, args.out, step=args.step,
                     scrape_interval=args.scrape_interval, values=values)
    empty = [f"{q.panel} [{q.ref_id}]" for q in results if not q.series]
    print(f"wrote {args.out}: {len(results)} queries, {len(empty)} empty" + (f" ({', '.join(empty)})" if empty else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
