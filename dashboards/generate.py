"""Generates the Grafana dashboards in this folder from the metric names of `telltales.streams.metrics` (the
worker) and `telltales.streams.adapt_metrics` (the adapter sidecar).

    python dashboards/generate.py           # exit 1 and name the files that differ from the generated JSON
    python dashboards/generate.py --write   # rewrite them

The JSON is never edited by hand: tests/test_dashboards.py fails when a committed file
differs from what this code makes. Every panel queries Prometheus through the dashboard's
`datasource` variable, so the files work both provisioned (deploy/grafana/) and imported.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from telltales.streams import adapt_metrics as am
from telltales.streams import metrics as m

HERE: Final = Path(__file__).resolve().parent
DATASOURCE: Final = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION: Final = 39  # Grafana 10.4+; newer servers migrate it on load
GRID_WIDTH: Final = 24
TAGS: Final = ["telltales"]
LATENCY_BUDGET_S: Final = 1.0  # SPEC §8: event-to-finding p99 ≤ 1 s
RATE: Final = "$__rate_interval"


# Panels -----------------------------------------------------------------------------------------
def target(expr: str, legend: str = "", *, instant: bool = False) -> dict[str, Any]:
    return {"expr": expr, "legendFormat": legend or "__auto", "instant": instant, "range": not instant}


def _panel(kind: str, title: str, description: str, targets: list[dict[str, Any]], *, unit: str,
           width: int, height: int, thresholds: Iterable[tuple[str, float | None]] = (("green", None),),
           custom: dict[str, Any] | None = None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [{"datasource": DATASOURCE, "refId": chr(ord("A") + i), **t} for i, t in enumerate(targets)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "custom": custom or {},
                "thresholds": {"mode": "absolute",
                               "steps": [{"color": color, "value": value} for color, value in thresholds]},
            },
            "overrides": [],
        },
        "options": options or {},
        "gridPos": {"w": width, "h": height},
    }


def timeseries(title: str, description: str, *targets: dict[str, Any], unit: str = "short", width: int = 12,
               height: int = 8, stacked: bool = False, bars: bool = False,
               budget: float | None = None) -> dict[str, Any]:
    """A time series panel; `budget` draws a red threshold line at that value."""
    custom = {"drawStyle": "bars" if bars else "line", "lineWidth": 1, "fillOpacity": 60 if bars else 10,
              "showPoints": "never", "spanNulls": False,
              "stacking": {"mode": "normal" if stacked else "none", "group": "A"},
              "thresholdsStyle": {"mode": "line" if budget is not None else "off"}}
    thresholds = [("green", None)] + ([("red", budget)] if budget is not None else [])
    options = {"legend": {"displayMode": "table", "placement": "bottom", "showLegend": True,
                          "calcs": ["lastNotNull", "max"]},
               "tooltip": {"mode": "multi", "sort": "desc"}}
    return _panel("timeseries", title, description, list(targets), unit=unit, width=width, height=height,
                  thresholds=thresholds, custom=custom, options=options)


def stat(title: str, description: str, *targets: dict[str, Any], unit: str = "short", width: int = 6,
         height: int = 4, thresholds: Iterable[tuple[str, float | None]] = (("green", None),)) -> dict[str, Any]:
    options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
               "colorMode": "value", "graphMode": "area", "justifyMode": "auto", "textMode": "auto",
               "orientation": "auto"}
    return _panel("stat", title, description, list(targets), unit=unit, width=width, height=height,
                  thresholds=thresholds, options=options)


def bargauge(title: str, description: str, *targets: dict[str, Any], unit: str = "short", width: int = 12,
             height: int = 8) -> dict[str, Any]:
    """Horizontal bars of an instant query (a ranking over the dashboard's time range)."""
    options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
               "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
               "valueMode": "color", "namePlacement": "left", "sizing": "auto"}
    return _panel("bargauge", title, description, list(targets), unit=unit, width=width, height=height,
                  options=options)


def row(title: str) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"w": GRID_WIDTH, "h": 1}}


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give panels ids and positions, left to right, wrapping at the grid width; a row starts a new line."""
    x = y = line_height = 0
    placed = []
    for number, panel in enumerate(panels, 1):
        w, h = panel["gridPos"]["w"], panel["gridPos"]["h"]
        if panel["type"] == "row" or x + w > GRID_WIDTH:
            x, y, line_height = 0, y + line_height, 0
        placed.append({"id": number, **panel, "gridPos": {"h": h, "w": w, "x": x, "y": y}})
        x += w
        line_height = max(line_height, h)
        if panel["type"] == "row":
            x, y, line_height = 0, y + h, 0
    return placed


# Dashboards -------------------------------------------------------------------------------------
def datasource_variable() -> dict[str, Any]:
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1,
            "regex": "", "skipUrlSync": False}


def query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    """A multi-value variable over a label's values, 'All' meaning any value."""
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "definition": query, "query": {"query": query, "refId": f"{name}-values", "qryType": 1},
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "hide": 0, "includeAll": True, "allValue": ".*", "multi": True, "options": [], "refresh": 2,
            "regex": "", "skipUrlSync": False, "sort": 1}


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]], *, time_from: str,
              variables: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": TAGS,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "utc",
        "refresh": "30s",
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": TAGS, "title": "telltales", "asDropdown": True,
                   "includeVars": False, "keepTime": True, "icon": "external link", "targetBlank": False,
                   "tooltip": "", "url": ""}],
        "templating": {"list": [datasource_variable(), *variables]},
        "panels": layout(panels),
    }


def soc_trends() -> dict[str, Any]:
    created = f'{m.FINDINGS}{{activity="create"}}'
    alerting = f'{m.FINDINGS}{{activity=~"create|update"}}'
    panels = [
        stat("Open cases", "Cases open now, summed over workers.", target(f"sum({m.OPEN_CASES})", "open")),
        stat("Employees linked to laptop farms", "Open cases whose employee shares home infrastructure (IP, "
             "Wi-Fi BSSID, gateway MAC) with other employees.",
             target(f"sum({m.LAPTOP_FARM_CASES})", "in farms"), thresholds=(("green", None), ("red", 1))),
        stat("Suspected laptop farms", "Distinct farm groups among open cases (a farm whose employees sit on "
             "different workers' partitions counts once per worker).",
             target(f"sum({m.LAPTOP_FARM_GROUPS})", "groups"), thresholds=(("green", None), ("red", 1))),
        stat("Cases opened in range", "Create records in the dashboard's time range.",
             target(f"sum(increase({created}[$__range]))", "opened", instant=True)),
        row("Findings"),
        timeseries("Findings by severity", "Create and update records per hour, by OCSF severity.",
                   target(f"3600 * sum by (severity) (rate({alerting}[{RATE}]))", "{{severity}}"),
                   unit="short", stacked=True),
        timeseries("Finding records by activity", "Cases opened, updated (band change or new detector) and "
                   "closed, per hour.",
                   target(f"3600 * sum by (activity) (rate({m.FINDINGS}[{RATE}]))", "{{activity}}"),
                   unit="short"),
        timeseries("Findings by contributing detector", "Per hour, how often each detector's evidence is in a "
                   "create or update record.",
                   target(f"3600 * sum by (detector) (rate({m.FINDING_EVIDENCE}[{RATE}]))", "{{detector}}"),
                   unit="short", stacked=True),
        timeseries("Open cases and laptop farms", "Open cases over time, and those linked to a farm group.",
                   target(f"sum({m.OPEN_CASES})", "open cases"),
                   target(f"sum({m.LAPTOP_FARM_CASES})", "linked to a laptop farm"),
                   target(f"sum({m.LAPTOP_FARM_GROUPS})", "farm groups")),
        row("What drives findings"),
        bargauge("Top contributing detectors", "Evidences each detector put into findings over the time range "
                 "(detectors with none are left out).",
                 target(f"topk(10, sum by (detector) (increase({m.FINDING_EVIDENCE}[$__range])) > 0)", "{{detector}}",
                        instant=True)),
        bargauge("Top signals raised", "Signals each detector raised over the time range (shadow detectors "
                 "included, so a detector being tuned shows here before it shows in findings).",
                 target(f"topk(10, sum by (detector) (increase({m.SIGNALS}[$__range])) > 0)", "{{detector}}",
                        instant=True)),
    ]
    return dashboard("telltales-soc-trends", "telltales / SOC trends",
                     "Findings, cases and laptop farms over time, and the detectors behind them.",
                     panels, time_from="now-7d")


def pipeline_health() -> dict[str, Any]:
    latency = f"{m.EVENT_TO_FINDING_LATENCY}_bucket"
    # Adapter sidecars export build_info too: a worker is a telltales process that has no adapter directory.
    workers = f"({m.BUILD_INFO} unless on (job, instance) {am.DIRECTORY})"
    worker = f"on (job, instance) group_left () {workers}"  # restrict process_* to telltales workers
    panels = [
        stat("Workers reporting", "Workers whose metrics Prometheus scrapes (adapter sidecars not counted).",
             target(f"count{workers}", "workers"), thresholds=(("red", None), ("green", 1))),
        stat("Events consumed/s", "All topics, all outcomes.",
             target(f"sum(rate({m.EVENTS_CONSUMED}[{RATE}]))", "events/s"), unit="ops"),
        stat("Total consumer lag", "Messages not yet processed, all topics.",
             target(f"sum({m.CONSUMER_LAG})", "lag"), thresholds=(("green", None), ("orange", 1000))),
        stat("Event-to-finding p99", f"Budget {LATENCY_BUDGET_S:g} s (SPEC §8).",
             target(f"histogram_quantile(0.99, sum by (le) (rate({latency}[{RATE}])))", "p99"), unit="s",
             thresholds=(("green", None), ("red", LATENCY_BUDGET_S))),
        row("Throughput and lag"),
        timeseries("Events consumed per topic", "Messages consumed per second, by topic.",
                   target(f"sum by (topic) (rate({m.EVENTS_CONSUMED}[{RATE}]))", "{{topic}}"), unit="ops"),
        timeseries("Events by outcome", "Accepted, rejected (to the DLQ) and duplicate messages per second.",
                   target(f"sum by (outcome) (rate({m.EVENTS_CONSUMED}[{RATE}]))", "{{outcome}}"), unit="ops",
                   stacked=True),
        timeseries("Consumer lag per topic", "Messages between the committed offset and the end of the log.",
                   target(f"sum by (topic) ({m.CONSUMER_LAG})", "{{topic}}")),
        timeseries("DLQ writes by reason", "Rejected messages per second, by rejection code and stage (codes "
                   "with no writes in the window are left out of the legend).",
                   target(f"sum by (code, stage) (rate({m.DLQ_WRITES}[{RATE}])) > 0", "{{code}} ({{stage}})"),
                   unit="ops", stacked=True),
        row("Latency, sources and errors"),
        timeseries("Event-to-finding latency", f"From an event entering Kafka to its finding being produced; "
                   f"the red line is the {LATENCY_BUDGET_S:g} s p99 budget.",
                   *(target(f"histogram_quantile({q}, sum by (le) (rate({latency}[{RATE}])))", f"p{round(q * 100)}")
                     for q in (0.5, 0.9, 0.99)),
                   unit="s", budget=LATENCY_BUDGET_S),
        timeseries("Time since last event per source", "Seconds since a valid event arrived from each log "
                   "source (since the worker started, if none yet). A rising line is a silent source.",
                   target(f"time() - max by (topic) ({m.LAST_EVENT_TIMESTAMP})", "{{topic}}"), unit="s"),
        timeseries("Detector errors", "Exceptions per second by detector; the event went on without it.",
                   target(f"sum by (detector) (rate({m.DETECTOR_ERRORS}[{RATE}]))", "{{detector}}"), unit="ops"),
        timeseries("Signals per detector", "Signals raised per second, by detector.",
                   target(f"sum by (detector) (rate({m.SIGNALS}[{RATE}]))", "{{detector}}"), unit="ops"),
        row("State and resources"),
        timeseries("Employees and table sizes", "Employees with state, and entries per table, summed over "
                   "workers.",
                   target(f"sum({m.EMPLOYEES_TRACKED})", "employees"),
                   target(f"sum by (table) ({m.TABLE_ENTRIES})", "{{table}}")),
        timeseries("Worker memory (RSS)", "Resident memory per worker (budget: 1 GB at 100,000 employees).",
                   target(f"{m.PROCESS_RESIDENT_MEMORY} * {worker}", "{{instance}}"), unit="bytes", width=6),
        timeseries("Worker CPU", "CPU cores used per worker.",
                   target(f"rate({m.PROCESS_CPU}[{RATE}]) * {worker}", "{{instance}}"), unit="short", width=6),
    ]
    return dashboard("telltales-pipeline-health", "telltales / Pipeline health",
                     "Throughput, lag, the DLQ, latency against its budget, silent sources and detector errors.",
                     panels, time_from="now-6h")


def detector_drilldown() -> dict[str, Any]:
    selected = '{detector=~"$detector"}'
    findings = f'{m.FINDINGS}{{activity=~"create|update"}}'
    panels = [
        timeseries("Signals raised", "Signals per second for the selected detectors.",
                   target(f"sum by (detector) (rate({m.SIGNALS}{selected}[{RATE}]))", "{{detector}}"), unit="ops",
                   width=24),
        timeseries("Evidence in findings", "How often each selected detector's evidence is in a create or "
                   "update record, per hour.",
                   target(f"3600 * sum by (detector) (rate({m.FINDING_EVIDENCE}{selected}[{RATE}]))",
                          "{{detector}}")),
        timeseries("Detector errors", "Exceptions per second; each was isolated and counted, the event went on.",
                   target(f"sum by (detector) (rate({m.DETECTOR_ERRORS}{selected}[{RATE}]))", "{{detector}}"),
                   unit="ops"),
        bargauge("Signals in range", "Signals raised over the time range.",
                 target(f"sum by (detector) (increase({m.SIGNALS}{selected}[$__range]))", "{{detector}}",
                        instant=True)),
        bargauge("Share of findings with this detector's evidence", "Fraction of create/update records over the "
                 "time range that carry evidence from the detector (empty when there were no findings).",
                 target(f"sum by (detector) (increase({m.FINDING_EVIDENCE}{selected}[$__range])) / on () "
                        f"group_left () (sum(increase({findings}[$__range])) > 0)", "{{detector}}", instant=True),
                 unit="percentunit"),
    ]
    return dashboard("telltales-detector-drilldown", "telltales / Detector drill-down",
                     "Per-detector signal rates, contribution to findings and errors; pick detectors above.",
                     panels, time_from="now-24h",
                     variables=[query_variable("detector", "Detector", f"label_values({m.SIGNALS}, detector)")])


def adapter_sidecar() -> dict[str, Any]:
    """The sidecar's own board: most deployments run none, and the pipeline-health board stays about workers."""
    selected = '{adapter=~"$adapter"}'
    records = f"{am.RECORDS}{selected}"
    rejected = f'{am.RECORDS}{{adapter=~"$adapter", outcome="rejected"}}'
    mapped = f'{am.RECORDS}{{adapter=~"$adapter", outcome=~"event|rejected"}}'
    sidecar = f"and on (job, instance) {am.DIRECTORY}{selected}"  # restrict process_* to the chosen sidecars
    panels = [
        stat("Sidecars reporting", "Adapter sidecars whose metrics Prometheus scrapes.",
             target(f"count({am.DIRECTORY}{selected})", "sidecars"), thresholds=(("red", None), ("green", 1))),
        stat("Records/s", "Vendor records read per second, every outcome.",
             target(f"sum(rate({records}[{RATE}]))", "records/s"), unit="ops"),
        stat("Rejected share", "Rejected records among those that carry something telltales reads (skipped "
             "records left out); the alert is at 5% over 30 minutes.",
             target(f"sum(rate({rejected}[{RATE}])) / sum(rate({mapped}[{RATE}]))", "rejected"),
             unit="percentunit", thresholds=(("green", None), ("orange", 0.05))),
        stat("Smallest directory", "Fewest employees any chosen sidecar resolves names with; 0 makes every "
             "record an unknown user.",
             target(f"min({am.DIRECTORY}{selected})", "employees"), thresholds=(("red", None), ("green", 1))),
        row("Records"),
        timeseries("Records by outcome", "Vendor records per second, by adapter and outcome: mapped to events, "
                   "skipped (nothing telltales reads), rejected (to the DLQ).",
                   target(f"sum by (adapter, outcome) (rate({records}[{RATE}]))", "{{adapter}} {{outcome}}"),
                   unit="ops", stacked=True),
        timeseries("Rejects by code", "Records sent to the DLQ per second, by adapter and rejection code "
                   "(unknown_identity: a user the directory does not name; codes with none left out).",
                   target(f"sum by (adapter, code) (rate({am.REJECTS}{selected}[{RATE}])) > 0",
                          "{{adapter}} {{code}}"), unit="ops", stacked=True),
        row("Sources, directory and resources"),
        timeseries("Event-time lag per adapter", "Now minus the event time of the newest event each adapter "
                   "wrote (sidecars that wrote none yet left out). A rising line is a silent vendor log.",
                   target(f"time() - max by (adapter) ({am.NEWEST_EVENT}{selected} > 0)", "{{adapter}}"), unit="s"),
        timeseries("Directory size", "Employees in each adapter's directory, followed from directory.employees.",
                   target(f"max by (adapter) ({am.DIRECTORY}{selected})", "{{adapter}}")),
        timeseries("Sidecar memory (RSS)", "Resident memory per sidecar.",
                   target(f"{m.PROCESS_RESIDENT_MEMORY} {sidecar}", "{{instance}}"), unit="bytes"),
        timeseries("Sidecar CPU", "CPU cores used per sidecar.",
                   target(f"rate({m.PROCESS_CPU}[{RATE}]) {sidecar}", "{{instance}}"), unit="short"),
    ]
    return dashboard("telltales-adapter-sidecar", "telltales / Adapter sidecar",
                     "What the adapter sidecars (telltales adapt) make of the vendor records: outcomes, rejects by "
                     "code, event-time lag and directory size, per adapter.",
                     panels, time_from="now-6h",
                     variables=[query_variable("adapter", "Adapter", f"label_values({am.RECORDS}, adapter)")])


DASHBOARDS: Final = {
    "telltales-soc-trends.json": soc_trends,
    "telltales-pipeline-health.json": pipeline_health,
    "telltales-detector-drilldown.json": detector_drilldown,
    "telltales-adapter-sidecar.json": adapter_sidecar,
}


def render_json(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def generated() -> dict[str, str]:
    """File name → the JSON text this code makes for it."""
    return {name: render_json(build()) for name, build in DASHBOARDS.items()}


def stale(folder: Path = HERE) -> list[str]:
    """Names of dashboard files in `folder` that are missing or differ from the generated JSON."""
    return [name for name, text in generated().items()
            if not (folder / name).is_file() or (folder / name).read_text("utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the committed JSON files")
    parser.add_argument("--dir", type=Path, default=HERE, help="folder of the dashboard JSON files")
    args = parser.parse_args(argv)
    if args.write:
        for name, text in generated().items():
            (args.dir / name).write_text(text, "utf-8")
            print(f"wrote {args.dir / name}")
        return 0
    differing = stale(args.dir)
    for name in differing:
        print(f"{args.dir / name}: differs from the generated dashboard; run python dashboards/generate.py --write",
              file=sys.stderr)
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
