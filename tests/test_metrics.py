"""The metrics module: Prometheus naming, bounded labels, series that exist before traffic, serving, replay counters."""

from __future__ import annotations

import io
import re
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from telltales.detectors import registry
from telltales.schemas.config import Config
from telltales.schemas.rejections import CODES, STAGES
from telltales.streams import metrics as m
from telltales.streams.metrics import Metrics


def families(metrics: Metrics) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(metrics.exposition().decode()) for s in f.samples}


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def metrics() -> Metrics:
    return Metrics.from_config(Config(), version="9.9.9", clock=lambda: 1_700_000_000.0)


NAMES = [getattr(m, n) for n in dir(m) if n.isupper() and isinstance(getattr(m, n), str)]
TELLTALES_NAMES = [n for n in NAMES if n.startswith("telltales_")]


def test_every_name_constant_is_exported(metrics):
    exported = {s[0] for s in samples(metrics)}
    for name in NAMES:
        assert name in exported or f"{name}_bucket" in exported, name


@pytest.mark.parametrize("name", TELLTALES_NAMES)
def test_prometheus_naming(name, metrics):
    assert re.fullmatch(r"telltales_[a-z][a-z0-9_]*", name)
    kind = {f.name: f.type for f in text_string_to_metric_families(metrics.exposition().decode())}
    family = name.removesuffix("_total")
    assert family in kind, name
    if kind[family] == "counter":
        assert name.endswith("_total")
    else:
        assert not name.endswith("_total")
    if kind[family] == "histogram":
        assert name.endswith("_seconds")
    if "timestamp" in name or "latency" in name:
        assert name.endswith("_seconds")


def test_labels_are_the_bounded_set_only(metrics):
    metrics.event("telemetry.vpn", "accepted")
    metrics.finding("High", "create", ["ip_kvm"])
    for (name, labels), _ in samples(metrics).items():
        if name.startswith("telltales_"):
            assert {k for k, _ in labels} - {"le"} <= m.LABELS, name


def test_known_series_exist_at_zero_before_traffic(metrics):
    s = samples(metrics)
    for topic in ("telemetry.vpn", "telemetry.remote_access", "telemetry.device", "directory.employees"):
        for outcome in m.OUTCOMES:
            assert s[(m.EVENTS_CONSUMED, (("outcome", outcome), ("topic", topic)))] == 0
        assert s[(m.CONSUMER_LAG, (("topic", topic),))] == 0
    for detector in registry.discover():
        assert s[(m.SIGNALS, (("detector", detector),))] == 0
        assert s[(m.DETECTOR_ERRORS, (("detector", detector),))] == 0
        assert s[(m.FINDING_EVIDENCE, (("detector", detector),))] == 0
    for code in CODES:
        for stage in STAGES:
            assert s[(m.DLQ_WRITES, (("code", code), ("stage", stage)))] == 0
    for severity in m.SEVERITIES:
        for activity in m.ACTIVITIES:
            assert s[(m.FINDINGS, (("activity", activity), ("severity", severity)))] == 0
    assert s[(m.BUILD_INFO, (("version", "9.9.9"),))] == 1
    assert s[(m.OPEN_CASES, ())] == 0


def test_sources_start_at_creation_time_and_the_directory_is_not_a_source(metrics):
    s = samples(metrics)
    for topic in ("telemetry.vpn", "telemetry.remote_access", "telemetry.device"):
        assert s[(m.LAST_EVENT_TIMESTAMP, (("topic", topic),))] == 1_700_000_000.0
    assert (m.LAST_EVENT_TIMESTAMP, (("topic", "directory.employees"),)) not in s


def test_valid_events_move_the_last_event_time_rejected_ones_do_not():
    now = [100.0]
    metrics = Metrics(topics=["vpn", "dir"], sources=["vpn"], detectors=[], clock=lambda: now[0])
    now[0] = 200.0
    metrics.event("vpn", "rejected")
    assert value(metrics, m.LAST_EVENT_TIMESTAMP, topic="vpn") == 100.0
    metrics.event("vpn", "accepted")
    assert value(metrics, m.LAST_EVENT_TIMESTAMP, topic="vpn") == 200.0
    now[0] = 300.0
    metrics.event("vpn", "duplicate")
    metrics.event("dir", "accepted")
    assert value(metrics, m.LAST_EVENT_TIMESTAMP, topic="vpn") == 300.0
    assert value(metrics, m.EVENTS_CONSUMED, topic="dir", outcome="accepted") == 1
    metrics.source_seen("vpn", 50.0)
    assert value(metrics, m.LAST_EVENT_TIMESTAMP, topic="vpn") == 50.0


def test_helpers_count(metrics):
    metrics.event("telemetry.vpn", "accepted", 3)
    metrics.dlq("bad_json", "decode")
    metrics.signal("ip_kvm", 2)
    metrics.detector_error("anonymizer")
    metrics.finding("Critical", "update", ["ip_kvm", "anonymizer"])
    metrics.latency(0.2)
    metrics.latency(-1.0)  # a producer clock ahead of ours: counted as 0, not lost
    metrics.lag("telemetry.vpn", 42)
    metrics.cases(5, farm_cases=3, farm_groups=1)
    metrics.employees(1000)
    metrics.table("employee-state", 1000)
    assert value(metrics, m.EVENTS_CONSUMED, topic="telemetry.vpn", outcome="accepted") == 3
    assert value(metrics, m.DLQ_WRITES, code="bad_json", stage="decode") == 1
    assert value(metrics, m.SIGNALS, detector="ip_kvm") == 2
    assert value(metrics, m.DETECTOR_ERRORS, detector="anonymizer") == 1
    assert value(metrics, m.FINDINGS, severity="critical", activity="update") == 1
    assert value(metrics, m.FINDING_EVIDENCE, detector="anonymizer") == 1
    assert value(metrics, f"{m.EVENT_TO_FINDING_LATENCY}_count") == 2
    assert value(metrics, f"{m.EVENT_TO_FINDING_LATENCY}_bucket", le="0.005") == 1
    assert value(metrics, f"{m.EVENT_TO_FINDING_LATENCY}_bucket", le="0.25") == 2
    assert value(metrics, m.CONSUMER_LAG, topic="telemetry.vpn") == 42
    assert value(metrics, m.OPEN_CASES) == 5
    assert value(metrics, m.LAPTOP_FARM_CASES) == 3
    assert value(metrics, m.LAPTOP_FARM_GROUPS) == 1
    assert value(metrics, m.EMPLOYEES_TRACKED) == 1000
    assert value(metrics, m.TABLE_ENTRIES, table="employee-state") == 1000


def test_latency_buckets_resolve_the_one_second_budget():
    assert 1.0 in m.LATENCY_BUCKETS
    below = [b for b in m.LATENCY_BUCKETS if b < 1.0]
    assert len(below) >= 6 and max(below) >= 0.75


@pytest.mark.parametrize("call", [
    lambda x: x.event("telemetry.vpn", "maybe"),
    lambda x: x.dlq("bad_json", "somewhere"),
    lambda x: x.finding("spicy", "create"),
    lambda x: x.finding("high", "reopen"),
])
def test_label_values_outside_the_fixed_vocabularies_are_refused(metrics, call):
    with pytest.raises(ValueError):
        call(metrics)


def test_registries_are_independent():
    a, b = Metrics(detectors=["ip_kvm"]), Metrics(detectors=["ip_kvm"])
    a.signal("ip_kvm")
    assert value(a, m.SIGNALS, detector="ip_kvm") == 1
    assert value(b, m.SIGNALS, detector="ip_kvm") == 0


def test_no_created_series_are_exported(metrics):
    assert "_created" not in metrics.exposition().decode()


def test_serve_exposes_the_registry_over_http(metrics):
    metrics.signal("ip_kvm")
    server = metrics.serve(0, addr="127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'telltales_signals_total{detector="ip_kvm"} 1.0' in body
    assert "process_resident_memory_bytes" in body


def test_finding_record_reads_an_ocsf_finding(metrics):
    from telltales.detectors.ocsf import FindingBuilder
    from telltales.detectors.engine import Engine
    from telltales.detectors.fusion import Active, Case, CaseChange

    engine = Engine(Config())
    builder = FindingBuilder(registry.discover(), engine.fusion, product_version="0")
    active = Active(weight=0.9, score=1.0, time=1_700_000_000.0, summary="s", data={})
    change = CaseChange(activity="create", employee_id="e-1", case=Case(number=1, open=True, band=3,
                        detectors=("ip_kvm", "anonymizer")), risk=95.0, time=1_700_000_000.0,
                        evidence={"ip_kvm": active, "anonymizer": active}, reason="test")
    finding = builder.build(change)
    metrics.finding_record(finding)
    assert value(metrics, m.FINDINGS, severity=finding["severity"].lower(), activity="create") == 1
    assert value(metrics, m.FINDING_EVIDENCE, detector="ip_kvm") == 1
    assert value(metrics, m.FINDING_EVIDENCE, detector="anonymizer") == 1


def test_replay_counters_become_a_deterministic_exposition(tmp_path):
    from telltales.streams.replay import replay

    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"event_type":"vpn_login","ts":"2026-01-05T09:00:00Z","employee_id":"e-1","src_ip":"203.0.113.7"}\n'
        '{"event_type":"vpn_login","ts":"2026-01-05T09:00:00Z","employee_id":"e-1","src_ip":"203.0.113.7"}\n'
        '{"event_type":"employee","employee_id":"e-1"}\n'
        'not json\n', "utf-8")

    def run() -> bytes:
        config = Config()
        counters = replay([str(events)], config, io.BytesIO(), None)
        metrics = Metrics.from_config(config, version="0", process=False, clock=lambda: 0.0)
        metrics.record_replay(counters, config.topics)
        return metrics.exposition()

    first = run()
    assert first == run()
    text = first.decode()
    assert 'telltales_events_consumed_total{outcome="accepted",topic="telemetry.vpn"} 1.0' in text
    assert 'telltales_events_consumed_total{outcome="accepted",topic="directory.employees"} 1.0' in text
    assert 'telltales_events_consumed_total{outcome="duplicate",topic="file"} 1.0' in text
    assert 'telltales_events_consumed_total{outcome="rejected",topic="file"} 1.0' in text
    assert 'telltales_dlq_writes_total{code="bad_json",stage="decode"} 1.0' in text


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(m)
    assert result.attempted > 0 and result.failed == 0
