"""End to end with a real Prometheus: a worker fed simulated traffic through Kafka, scraped every second.

Every PromQL expression of the dashboards and the alert rules goes through Prometheus'
HTTP API over the traffic window and must return a series with a non-zero value. The
few rule expressions that are empty by design while the pipeline is healthy are listed
in `QUIET_WHEN_HEALTHY` with the reason; for those the expression must still evaluate
and its measured part (what the threshold compares) must be live.

The traffic is test_worker's data set (40 simulated employees over 12 days with planted
stories: an IP-KVM, a case that closes and reopens, a laptop farm) sent live over some
seconds, with the known-bad records of test_worker's DLQ test mixed in, to a worker that also runs a
detector raising on every VPN login — so findings of several severities, DLQ writes and
detector errors all have data. Set TELLTALES_E2E_PNG_DIR to keep the dashboards rendered
from this run as PNG (the README picture is made that way).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kafka import KafkaProducer

from promserver import SCRAPE_INTERVAL_S, Prometheus, free_port
from test_dashboards import DASHBOARDS, generate, render
from test_worker import BAD, EXPLODING_SCRIPT, RunningWorker, as_kafka, data_set, wait_drained, worker_config
from telltales.streams.topics import create_topics

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TRAFFIC_S = 16.0  # the data set's ~5,300 records at a steady ~330/s: many scrapes of moving rates
BAD_ROUNDS = 8  # times the known-bad records are mixed into the traffic
# Two detectors that put evidence into findings, and the one that raises (its errors panel has data then).
DRILLDOWN = {"detector": ["ip_kvm", "shared_infrastructure", "exploding"]}
RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "telltales-rules.yml"

# Alert → (why its expression is empty on a healthy run, the measured part of it that must be live here,
# whether the expression must be empty here). Every other alert's expression must return a non-zero series.
QUIET_WHEN_HEALTHY = {
    "TelltalesWorkerDown": ("the worker answers every scrape, so up is never 0", 'up{job="telltales"}', True),
    "TelltalesWorkersAbsent": ("absent() is empty while a telltales target exists", 'up{job="telltales"}', True),
    "TelltalesConsumerLagGrowing": ("the worker keeps up: lag stays far below 1000 messages",
                                    "sum by (topic) (telltales_consumer_lag_messages)", True),
    "TelltalesDLQSpike": ("about 1% of the traffic is rejected; the alert wants over 5% and 0.1/s for 10 minutes",
                          "sum(rate(telltales_dlq_writes_total[10m]))", True),
    "TelltalesLogSourceSilent": ("every source sent a valid event seconds ago, not an hour",
                                 "time() - max by (topic) (telltales_last_event_timestamp_seconds)", True),
    # Findings normally take well under the 1 s budget, but this machine also runs other tests: not asserted empty.
    "TelltalesEventToFindingLatencyHigh": (
        "findings reach the SIEM topic within the 1 s budget",
        "histogram_quantile(0.99, sum by (le) (rate(telltales_event_to_finding_latency_seconds_bucket[10m])))",
        False),
}


@dataclass
class Run:
    prometheus: Prometheus
    start: float
    end: float

    def range_query(self, expr: str, label: str = "") -> render.Query:
        """`expr` over the run, one point a second (raises when Prometheus rejects it)."""
        query = render.Query(label or expr, "A", expr, "", instant=False)
        return render.run(query, self.prometheus.url, self.start, self.end, step=1)

    def dashboard(self, name: str) -> list[render.Query]:
        """Every query of a dashboard, variables filled as Grafana would, run over the run."""
        board = json.loads((DASHBOARDS / name).read_text("utf-8"))
        return [render.run(q, self.prometheus.url, self.start, self.end, step=1)
                for q in render.queries(board, self.start, self.end, step=1, scrape_interval=SCRAPE_INTERVAL_S,
                                        values=DRILLDOWN)]


def traffic(records: list[dict]) -> list[tuple[str, bytes | None, bytes | None]]:
    """The directory first, then the telemetry in time order with the bad records mixed in `BAD_ROUNDS` times."""
    directory = [r for r in records if r["event_type"] == "employee"]
    telemetry = [r for r in records if r["event_type"] != "employee"]
    size = -(-len(telemetry) // BAD_ROUNDS)
    mixed = [kafka for i in range(0, len(telemetry), size) for kafka in as_kafka(telemetry[i:i + size]) + BAD]
    return as_kafka(directory) + mixed


def send_live(config, records: list[tuple[str, bytes | None, bytes | None]], seconds: float) -> None:
    """Send (topic attribute, key, value) records at a steady rate over `seconds`, stamped with the time they are sent.

    Live traffic, not a backlog: the event-to-finding latency measures the worker, and rates stay level.
    """
    producer = KafkaProducer(bootstrap_servers=config.kafka.bootstrap_servers, acks="all", linger_ms=5)
    began = time.monotonic()
    last_ms = 0
    for i, (topic, key, value) in enumerate(records):
        time.sleep(max(0.0, began + i * seconds / len(records) - time.monotonic()))
        last_ms = max(last_ms + 1, int(time.time() * 1000))  # strictly increasing, as one producer in time order
        producer.send(getattr(config.topics, topic), key=key, value=value, timestamp_ms=last_ms)
    producer.flush()
    producer.close()


@pytest.fixture(scope="module")
def run(kafka_bootstrap, tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e")
    port = free_port()
    records, sim_toml = data_set()
    text, config = worker_config(kafka_bootstrap, f"t{uuid.uuid4().hex[:8]}.", sim_toml)
    text = text.replace("[worker]\n", f"[worker]\nmetrics_port = {port}\n")
    create_topics(config)
    worker = RunningWorker(folder, text, script=EXPLODING_SCRIPT)
    (folder / "prometheus").mkdir()
    try:
        with Prometheus(folder / "prometheus", [f"127.0.0.1:{port}"]) as prometheus:
            prometheus.scraped_until(0, timeout_s=60)  # the worker is up and scraped
            start = time.time()
            prometheus.scraped_until(start + 2 * SCRAPE_INTERVAL_S, timeout_s=20)  # zeros before the traffic
            send_live(config, traffic(records), TRAFFIC_S)
            wait_drained(config, worker)
            prometheus.scraped_until(time.time() + 2 * SCRAPE_INTERVAL_S, timeout_s=20)  # the final gauges
            yield Run(prometheus, start, time.time())
    finally:
        code = worker.stop()
        assert code == 0, worker.output()[-4000:]


def labels(results: list[render.Query], name: str) -> set[str]:
    """Values of label `name` over the series with a non-zero value."""
    return {s.labels.get(name, "") for q in results for s in q.series if any(v for _, v in s.points)}


def by_panel(results: list[render.Query]) -> dict[str, list[render.Query]]:
    panels: dict[str, list[render.Query]] = {}
    for q in results:
        panels.setdefault(q.panel, []).append(q)
    return panels


# No adapter sidecar runs here: its dashboard's queries are run by test_dashboards against a real Prometheus.
@pytest.mark.parametrize("name", [name for name in generate.DASHBOARDS if name != "telltales-adapter-sidecar.json"])
def test_every_dashboard_query_returns_a_nonzero_series(run, name):
    results = run.dashboard(name)
    assert results
    dead = [f"{q.panel} [{q.ref_id}] {q.expr}: {'all zero' if q.series else 'no series'}"
            for q in results if not q.nonzero()]
    assert not dead, "queries with no non-zero value though traffic was sent:\n" + "\n".join(dead)


def test_the_series_are_the_ones_the_traffic_makes(run):
    health = by_panel(run.dashboard("telltales-pipeline-health.json"))
    assert labels(health["Events by outcome"], "outcome") >= {"accepted", "rejected"}
    assert labels(health["DLQ writes by reason"], "code") >= {"bad_json", "bad_format", "key_mismatch", "not_utf8"}
    assert labels(health["Detector errors"], "detector") == {"exploding"}
    assert len(labels(health["Events consumed per topic"], "topic")) >= 4  # three telemetry topics and the directory
    soc = by_panel(run.dashboard("telltales-soc-trends.json"))
    assert labels(soc["Findings by severity"], "severity") >= {"medium", "high"}
    assert labels(soc["Finding records by activity"], "activity") == {"create", "update", "close"}
    assert labels(soc["Top contributing detectors"], "detector") >= {"ip_kvm", "shared_infrastructure"}


def test_the_drilldown_shows_only_the_chosen_detectors(run):
    results = run.dashboard("telltales-detector-drilldown.json")
    assert all('detector=~"(ip_kvm|shared_infrastructure|exploding)"' in q.expr for q in results)
    for q in results:
        expected = {"exploding"} if q.panel == "Detector errors" else {"ip_kvm", "shared_infrastructure"}
        assert labels([q], "detector") == expected, q.panel


def rules() -> dict[str, str]:
    return {rule["alert"]: rule["expr"] for group in yaml.safe_load(RULES.read_text("utf-8"))["groups"]
            for rule in group["rules"]}


def test_every_alert_expression_evaluates_and_the_live_ones_return_nonzero_series(run):
    assert set(QUIET_WHEN_HEALTHY) < set(rules())
    for alert, expr in rules().items():
        result = run.range_query(expr, alert)  # raises when Prometheus cannot evaluate it
        if alert not in QUIET_WHEN_HEALTHY:
            assert result.nonzero(), f"{alert}: {expr}"
            continue
        reason, measured, empty_here = QUIET_WHEN_HEALTHY[alert]
        if empty_here:
            assert result.series == [], f"{alert} should be quiet ({reason}): {result.series}"
        assert measured in expr, f"{alert}: {measured!r} is no longer part of its expression"
        assert run.range_query(measured, alert).nonzero(), f"{alert}: {measured} has no non-zero value"


def test_prometheus_evaluates_the_rules_and_the_failing_detector_alert_is_pending(run):
    evaluated = {r["name"]: r for g in run.prometheus.get("rules")["groups"] for r in g["rules"]}
    assert set(evaluated) == set(rules())
    assert {name: r["health"] for name, r in evaluated.items()} == dict.fromkeys(rules(), "ok")
    errors = evaluated["TelltalesDetectorErrors"]["alerts"]
    assert [(a["labels"]["detector"], a["state"]) for a in errors] == [("exploding", "pending")]  # `for: 10m`
    (target,) = run.prometheus.get("targets")["activeTargets"]
    assert target["health"] == "up" and target["labels"]["job"] == "telltales"


@pytest.mark.parametrize("name", ["telltales-pipeline-health.json", "telltales-soc-trends.json"])
def test_render_draws_the_dashboard_from_this_run(run, name, tmp_path):
    out = Path(os.environ.get("TELLTALES_E2E_PNG_DIR") or tmp_path) / name.replace(".json", ".png")
    results = render.render(DASHBOARDS / name, run.prometheus.url, run.start, run.end, out, step=1,
                            scrape_interval=SCRAPE_INTERVAL_S)
    assert all(q.series for q in results)
    assert 20_000 < out.stat().st_size < 300_000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_render_command_draws_the_drilldown_for_chosen_detectors(run, tmp_path, capsys):
    board = DASHBOARDS / "telltales-detector-drilldown.json"
    out = tmp_path / "drilldown.png"
    common = [str(board), "--prometheus", run.prometheus.url, "--end", f"{run.end}", "--step", "1",
              "--minutes", f"{(run.end - run.start) / 60}", "--scrape-interval", f"{SCRAPE_INTERVAL_S}",
              "--out", str(out)]
    with pytest.raises(SystemExit) as refused:
        render.main([*common, "--var", "detector"])
    assert refused.value.code == 2 and not out.exists()
    assert capsys.readouterr().err.endswith("error: --var 'detector': expected NAME=VALUE\n")

    assert render.main([*common, "--var", "detector=ip_kvm", "--var", "detector=exploding"]) == 0
    targets = sum(len(p["targets"]) for p in render._panels(json.loads(board.read_text("utf-8"))))
    assert capsys.readouterr().out == f"wrote {out}: {targets} queries, 0 empty\n"
    assert out.stat().st_size > 20_000
