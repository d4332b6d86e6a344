"""`telltales worker` on the real broker: the same cases as replay, rejects to the DLQ, detector errors isolated.

Each test runs the worker as a subprocess (SIGTERM to stop, as in production) over its own
topics and consumer group, waits until every input partition's committed offset reaches
its end, stops it, and reads what it published.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import msgspec
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from builders import CHICAGO, SEOUL, at, geo
from telltales.detectors.base import Detector
from telltales.detectors.engine import Engine
from telltales.schemas.config import parse
from telltales.schemas.decoder import Decoder
from telltales.schemas.events import Employee
from telltales.streams.cli import main
from telltales.streams.replay import Pipeline
from telltales.streams.simulate import simulate
from telltales.streams.topics import create_topics

pytestmark = pytest.mark.kafka

TESTS = Path(__file__).resolve().parent
PARTITIONS = 3
TIMEOUT_S = 90.0


# --- helpers --------------------------------------------------------------------------------

def worker_config(bootstrap: str, prefix: str, extra: str = "") -> tuple[str, object]:
    names = {"vpn": "telemetry.vpn", "remote_access": "telemetry.remote_access", "device": "telemetry.device",
             "employees": "directory.employees", "alerts": "siem.alerts", "dlq": "telltales.dlq"}
    topics = "\n".join(f'{k} = "{prefix}{v}"' for k, v in names.items())
    text = (f'[kafka]\nbootstrap_servers = "{bootstrap}"\n[topics]\n{topics}\npartitions = {PARTITIONS}\n'
            f'[worker]\napp_id = "{prefix}worker"\n\n{extra}')
    return text, parse(text)


def line(event_type: str, employee_id: str, hours: float | None = None, **fields) -> dict:
    record = {"event_type": event_type, "employee_id": employee_id, **fields}
    if hours is not None:
        record["ts"] = at(hours)
    return record


TOPIC_OF = {"vpn_login": "vpn", "remote_session": "remote_access", "device_snapshot": "device",
            "employee": "employees"}


def produce(config, records: list[tuple[str, bytes | None, bytes | None]]) -> None:
    """(topic attribute, key, value) in order; timestamps strictly increase, as from a producer sending in time order."""
    producer = KafkaProducer(bootstrap_servers=config.kafka.bootstrap_servers, acks="all", linger_ms=5)
    base = int(time.time() * 1000) - len(records)
    for i, (topic, key, value) in enumerate(records):
        producer.send(getattr(config.topics, topic), key=key, value=value, timestamp_ms=base + i)
    producer.flush()
    producer.close()


def kafka_value(record: dict) -> bytes:
    return msgspec.json.encode({k: v for k, v in record.items() if k != "event_type"})


def as_kafka(records: list[dict]) -> list[tuple[str, bytes, bytes]]:
    return [(TOPIC_OF[r["event_type"]], r["employee_id"].encode(), kafka_value(r)) for r in records]


# `telltales worker` with every `Engine.observe` call written to observed.jsonl in its working directory
# (`RunningWorker(trace=True)`, read by `observed`): wall time, employee, event id, source position, whether it
# was a duplicate, and — when the state it was given is not the one its previous call for that employee
# returned (the first event, or the state read again from the table after a reassignment) — that state's
# positions.
TRACING = textwrap.dedent("""
    import json, sys, time
    from telltales.detectors.engine import Engine
    from telltales.streams import cli

    observe, out, returned = Engine.observe, open("observed.jsonl", "a", buffering=1), {}

    def traced(self, event, state, employee, source=None):
        step = observe(self, event, state, employee, source)
        line = {"t": time.time(), "employee": event.employee_id, "id": event.event_id, "source": source,
                "duplicate": step.duplicate}
        if state is None or state is not returned.get(event.employee_id):
            line["start"] = {} if state is None else {str(k): v[0] for k, v in state.pos.items()}
        returned[event.employee_id] = step.state
        out.write(json.dumps(line) + "\\n")
        return step

    Engine.observe = traced
    sys.exit(cli.main(sys.argv[1:]))
""")


def observed(folder: Path) -> list[dict]:
    """A tracing worker's observe calls, in order (a line cut short by SIGKILL is left out)."""
    text = (folder / "observed.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.split("\n")[:-1]]


class RunningWorker:
    """`telltales worker` in a subprocess (or a script building a Worker), stopped with SIGTERM.

    With `trace`, the worker writes the order it applied events in (`TRACING`), after running
    `prelude` (patches a test needs in the worker's process, such as a point to be killed at).
    """

    def __init__(self, tmp_path: Path, config_text: str, script: str | None = None, loglevel: str = "warning",
                 web: bool = False, trace: bool = False, prelude: str = "") -> None:
        self.folder = tmp_path
        self.config_path = tmp_path / "telltales.toml"
        self.config_path.write_text(config_text, "utf-8")
        self.log_path = tmp_path / "worker.log"
        if script is None:
            run = ["-c", prelude + TRACING] if trace else ["-m", "telltales.streams.cli"]
            argv = [sys.executable, *run, "worker", "--config", str(self.config_path),
                    "--loglevel", loglevel, *([] if web else ["--no-web"])]
        else:
            argv = [sys.executable, "-c", script, str(self.config_path)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
        self.log = self.log_path.open("wb")
        # In tmp_path: Faust makes its data directory (worker.data_dir, relative) in the working directory.
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")


def input_partitions(config, admin: KafkaAdminClient) -> list[TopicPartition]:
    app_id = config.worker.app_id
    names = [*config.topics.telemetry(), config.topics.employees]
    names += [t for t in admin.list_topics()
              if t == f"{app_id}-signals" or (t.startswith(f"{app_id}-keys-") and not t.endswith("-changelog"))]
    return [TopicPartition(name, p) for name in names for p in range(PARTITIONS)]


def lag(config, *, per_partition: bool = False):
    """Records of the worker's input topics not yet committed by its group (None before its first commit);
    with `per_partition`, the lagging topic-partitions and their lag."""
    bootstrap = config.kafka.bootstrap_servers
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    # A group member that never subscribes only reads the group's committed offsets.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=config.worker.app_id, enable_auto_commit=False)
    try:
        tps = input_partitions(config, admin)
        committed = {tp: consumer.committed(tp) for tp in tps}
        if all(offset is None for offset in committed.values()):
            return None
        lags = {tp: end - (committed[tp] or 0) for tp, end in consumer.end_offsets(tps).items()}
        return {f"{tp.topic}[{tp.partition}]": n for tp, n in lags.items() if n} if per_partition else sum(lags.values())
    finally:
        consumer.close()
        admin.close()


def wait_drained(config, worker: RunningWorker, timeout_s: float = TIMEOUT_S) -> None:
    """Until every input record is committed, twice in a row (cross-employee signals make a second round)."""
    deadline = time.monotonic() + timeout_s
    zero_seen = 0
    while time.monotonic() < deadline:
        assert worker.proc.poll() is None, f"the worker exited early:\n{worker.output()[-4000:]}"
        zero_seen = zero_seen + 1 if lag(config) == 0 else 0
        if zero_seen >= 3:
            time.sleep(2.5)  # the sweep timer (1 s) evaluates open cases at the final clock
            return
        time.sleep(1.0)
    raise AssertionError(f"the worker did not drain its input in {timeout_s:.0f} s "
                         f"(lag {lag(config, per_partition=True)}):\n"
                         f"{worker.output()[-4000:]}")


def run_until_drained(folder: Path, config_text: str, config) -> None:
    """Run `telltales worker` in `folder` until its input is committed, stop it with SIGTERM; it must exit 0."""
    worker = RunningWorker(folder, config_text)
    try:
        wait_drained(config, worker)
    finally:
        code = worker.stop()
    assert code == 0, worker.output()[-4000:]


def read_topic(bootstrap: str, topic: str) -> list:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        tps = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < end for tp, end in ends.items()) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def cases_in_findings(findings: list[dict]) -> dict[str, tuple]:
    """Case uid → (employee, still open after its last record?)."""
    last: dict[str, dict] = {}
    for finding in sorted(findings, key=lambda f: f["time"]):
        last[finding["finding_info"]["uid"]] = finding
    return {uid: (f["actor"]["user"]["uid"], f["activity_name"] != "Close") for uid, f in last.items()}


def case_states(states: dict[str, object]) -> dict[str, tuple]:
    """Employee → its latest case (number, open, risk band, contributing detectors), for employees with a case."""
    return {employee_id: (s.fusion.case.number, s.fusion.case.open, s.fusion.case.band,
                          tuple(s.fusion.case.detectors))
            for employee_id, s in states.items() if s.fusion.case.number}


def applied_states(states: dict[str, object]) -> dict[str, tuple]:
    """Employee → what its own events made of its state: newest event time, applied event ids, detector states.

    Unlike the case (`case_states`), none of it depends on when cross-employee signals
    arrive, so a worker's final states equal replay's exactly; an event lost, or applied
    twice, shows here.
    """
    return {employee_id: (s.last, s.seen, s.det) for employee_id, s in states.items()}


def worker_states(config) -> dict[str, object]:
    """The worker's final employee states, read back from its table's changelog (latest record per key)."""
    latest = {}
    for record in read_topic(config.kafka.bootstrap_servers, f"{config.worker.app_id}-employee-state-changelog"):
        latest[record.key.decode()] = record.value
    engine = Engine(config)
    return {k: engine.decode_state(v) for k, v in latest.items() if v is not None}


# --- the data set -----------------------------------------------------------------------------

FARM = {"public_ip": "73.41.5.77", "wifi": {"ssid": "NETGEAR55", "bssid": "a4:2b:8c:10:20:30"},
        "gateway_mac": "a4:2b:8c:10:20:31"}
FARM_HOMES = [("f-ny", {"city": "New York", "country": "US", "lat": 40.71, "lon": -74.01}, "America/New_York"),
              ("f-austin", {"city": "Austin", "country": "US", "lat": 30.27, "lon": -97.74}, "America/Chicago"),
              ("f-denver", {"city": "Denver", "country": "US", "lat": 39.74, "lon": -104.99}, "America/Denver"),
              ("f-seattle", {"city": "Seattle", "country": "US", "lat": 47.61, "lon": -122.33},
               "America/Los_Angeles")]
KVM = {"vendor_id": "1d6b", "product_id": "0104", "product": "PiKVM"}
KVM2 = {"vendor_id": "1d6b", "product_id": "0104", "product": "TinyPilot"}


def planted() -> tuple[list[dict], list[dict]]:
    """Directory records and telemetry of employees with known stories (hours after 2026-03-02T09:00Z)."""
    home = {k: CHICAGO[k] for k in ("city", "country", "lat", "lon")}
    directory = [line("employee", "p-kvm", home=home, timezone="America/Chicago"),
                 line("employee", "p-reopen", home=home, timezone="America/Chicago")]
    telemetry = [
        # An IP-KVM appears, then a login from Seoul an hour later: one case.
        line("vpn_login", "p-kvm", 1, src_ip="24.12.7.1", geo=geo(CHICAGO)),
        line("device_snapshot", "p-kvm", 2, device_id="lt-kvm", usb_devices=[KVM]),
        line("vpn_login", "p-kvm", 3, src_ip="211.45.1.9", geo=geo(SEOUL)),
        # The same story, then a week of quiet: the case decays and closes; a second story opens case 2.
        *[line("vpn_login", "p-reopen", 24 * day, src_ip="24.12.7.2", geo=geo(CHICAGO)) for day in range(10)],
        line("device_snapshot", "p-reopen", 1, device_id="lt-reopen", usb_devices=[KVM]),
        line("vpn_login", "p-reopen", 2, src_ip="211.45.1.10", geo=geo(SEOUL)),
        line("device_snapshot", "p-reopen", 24 * 9 + 1, device_id="lt-reopen-2", usb_devices=[KVM2]),
        line("vpn_login", "p-reopen", 24 * 9 + 2, src_ip="211.45.1.11", geo=geo(SEOUL)),
    ]
    # A laptop farm: four new hires' laptops on one home network, two of them running AnyDesk.
    for i, (employee_id, place, tz) in enumerate(FARM_HOMES):
        directory.append(line("employee", employee_id, home=place, timezone=tz))
        for step in range(10):
            processes = ["chrome", "slack"] + (["AnyDesk.exe"] if i < 2 else [])
            telemetry.append(line("device_snapshot", employee_id, 4 + step * 6 + i * 0.5, device_id=f"lt-{employee_id}",
                                  processes=processes, **FARM))
    return directory, telemetry


def data_set() -> tuple[list[dict], str]:
    """A simulated organisation (a few thousand events) with the planted stories mixed in, in time order."""
    sim = simulate(employees=40, days=12, seed=4)
    directory = [msgspec.to_builtins(e) for e in sim.employees]
    telemetry = [msgspec.to_builtins(e.event) for e in sim.telemetry]
    extra_directory, extra_telemetry = planted()
    telemetry = sorted(telemetry + extra_telemetry, key=lambda r: (r["ts"], r["employee_id"]))
    return directory + extra_directory + telemetry, sim.config_toml


def replay_run(records: list[dict], config) -> tuple[list[dict], dict[str, object]]:
    """What `telltales replay` does with these records: its findings, and its final employee states."""
    findings: list[dict] = []
    pipeline = Pipeline(config, emit=findings.append)
    decoder = Decoder()
    for record in records:
        event = decoder.decode(msgspec.json.encode(record))
        if isinstance(event, Employee):
            pipeline.directory(event)
        else:
            pipeline.telemetry(event)
    pipeline.sweep(pipeline.clock)
    return findings, pipeline.states


# --- tests ------------------------------------------------------------------------------------

def test_worker_finds_the_same_cases_as_replay_and_commits_on_sigterm(kafka_bootstrap, topic_prefix, tmp_path):
    records, sim_toml = data_set()
    text, config = worker_config(kafka_bootstrap, topic_prefix, sim_toml)
    replay_findings, replay_states = replay_run(records, config)
    expected_cases, expected_states = cases_in_findings(replay_findings), case_states(replay_states)
    assert {e for e, _ in expected_cases.values()} >= {"p-kvm", "p-reopen", "f-ny", "f-austin"}
    assert expected_states["p-reopen"][:2] == (2, True)  # the first case decayed and closed; a second opened
    assert "shared_infrastructure" in expected_states["f-ny"][3]

    create_topics(config)
    # Telemetry first, the directory last: the worker must still read the directory first.
    telemetry = [r for r in records if r["event_type"] != "employee"]
    directory = [r for r in records if r["event_type"] == "employee"]
    produce(config, as_kafka(telemetry) + as_kafka(directory))
    run_until_drained(tmp_path, text, config)
    assert lag(config) == 0, "offsets must be committed on SIGTERM"

    alerts = read_topic(kafka_bootstrap, config.topics.alerts)
    findings = [json.loads(r.value) for r in alerts]
    assert all(r.key.decode() == f["actor"]["user"]["uid"] for r, f in zip(alerts, findings, strict=True))
    assert cases_in_findings(findings) == expected_cases
    final_states = worker_states(config)
    assert case_states(final_states) == expected_states
    assert applied_states(final_states) == applied_states(replay_states)
    assert read_topic(kafka_bootstrap, config.topics.dlq) == []


BAD = [
    ("vpn", b"emp-1", b"not json"),                                                   # bad_json
    ("vpn", b"emp-1", b'{"employee_id":"emp-1","ts":"2026-03-02T09:00:00Z","src_ip":"300.1.1.1"}'),  # bad_format
    ("device", b"emp-2", b'{"employee_id":"emp-1","ts":"2026-03-02T09:00:00Z"}'),       # key is someone else
    ("remote_access", None, b'{"employee_id":"emp-1","ts":"2026-03-02T09:00:00Z","tool":"ssh"}'),  # no key
    ("device", b"emp-1", b"\xff\xfe"),                                                  # not_utf8
    ("employees", b"emp-1", b'{"employee_id":"emp-1","status":"fired"}'),               # bad directory record
    ("vpn", b"emp-1", None),                                                            # a tombstone on telemetry
]

EXPLODING_SCRIPT = textwrap.dedent("""
    import sys
    from telltales.detectors import registry
    from telltales.detectors.base import Org
    from telltales.detectors.engine import Engine
    from telltales.schemas.config import load
    from telltales.streams.worker import Worker, preflight
    from test_worker import Exploding

    config = load(sys.argv[1])
    org = Org.from_config(config)
    engine = Engine(config, detectors=registry.build(config, org) + [Exploding(org)])
    worker = Worker(config, engine=engine, web=False, loglevel="WARNING")
    worker.serve_metrics = True  # /metrics on worker.metrics_port, without Faust's web server
    preflight(config, worker.topology)
    sys.exit(worker.run())
""")


def test_rejects_reach_the_dlq_and_a_raising_detector_stops_nothing(kafka_bootstrap, topic_prefix, tmp_path,
                                                                     free_port):
    text, config = worker_config(kafka_bootstrap, topic_prefix)
    text = text.replace("[worker]\n", f"[worker]\nmetrics_port = {free_port}\n")
    create_topics(config)
    home = {k: CHICAGO[k] for k in ("city", "country", "lat", "lon")}
    good = [line("employee", "emp-1", home=home, timezone="America/Chicago"),
            line("vpn_login", "emp-1", 0, src_ip="24.12.7.1", geo=geo(CHICAGO)),
            line("device_snapshot", "emp-1", 1, usb_devices=[KVM]),
            line("vpn_login", "emp-1", 2, src_ip="211.45.1.9", geo=geo(SEOUL))]
    produce(config, BAD[:4] + as_kafka(good[:2]) + BAD[4:] + as_kafka(good[2:]))
    worker = RunningWorker(tmp_path, text, script=EXPLODING_SCRIPT)
    try:
        wait_drained(config, worker)
        with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/metrics", timeout=10) as response:
            metrics = response.read().decode()
    finally:
        code = worker.stop()
    output = worker.output()
    assert code == 0, output[-4000:]
    assert 'telltales_detector_errors_total{detector="exploding"} 2.0' in metrics  # both VPN logins
    assert 'telltales_dlq_writes_total{code="key_mismatch",stage="decode"} 2.0' in metrics
    assert f'telltales_events_consumed_total{{outcome="rejected",topic="{config.topics.vpn}"}} 3.0' in metrics

    envelopes = [json.loads(r.value) for r in read_topic(kafka_bootstrap, config.topics.dlq)]
    by_code = sorted(e["code"] for e in envelopes)
    assert by_code == sorted(["bad_json", "bad_format", "key_mismatch", "key_mismatch", "not_utf8", "bad_value",
                              "bad_json"])
    for envelope in envelopes:
        source = envelope["source"]
        assert source["topic"].startswith(topic_prefix) and source["offset"] >= 0 and envelope["stage"] == "decode"
        original = base64.b64decode(envelope["original_b64"])
        assert (source["topic"], source["key"], original) in {
            (getattr(config.topics, t), k.decode() if k else None, v or b"") for t, k, v in BAD}
    mismatch = next(e for e in envelopes if e["code"] == "key_mismatch" and e["source"]["key"] == "emp-2")
    assert "emp-1" in mismatch["message"] and mismatch["path"] == "employee_id"

    # The raising detector is logged once with context; every other detector still ran.
    assert output.count("detector exploding raised") == 1, output[-4000:]
    assert "employee emp-1" in output
    findings = [json.loads(r.value) for r in read_topic(kafka_bootstrap, config.topics.alerts)]
    assert findings and findings[0]["activity_name"] == "Create"
    assert {e["data"]["detector"] for f in findings for e in f["evidences"]} >= {"ip_kvm", "impossible_travel"}


def test_worker_says_in_one_line_when_the_broker_is_unreachable(tmp_path, capsys, free_port, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Faust makes worker.data_dir (relative) as soon as it reads its settings
    path = tmp_path / "telltales.toml"
    path.write_text(f'[kafka]\nbootstrap_servers = "127.0.0.1:{free_port}"\n', "utf-8")
    assert main(["worker", "--config", str(path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"telltales worker: cannot reach Kafka at 127.0.0.1:{free_port} (no broker answered)")


def test_worker_says_which_topics_are_missing(kafka_bootstrap, topic_prefix, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text, _ = worker_config(kafka_bootstrap, topic_prefix)
    path = tmp_path / "telltales.toml"
    path.write_text(text, "utf-8")
    assert main(["worker", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("telltales worker: topic(s) ") and "run `telltales topics create`" in err


class Exploding(Detector):
    """Raises on every VPN login (the DLQ test's worker subprocess imports it from here)."""

    id = "exploding"
    title = "Raises on every VPN login"
    description = "A broken detector, for the isolation test."
    weight = 0.5
    runbook = "Fix the detector."
    event_types = ("vpn_login",)

    def observe(self, event, state, ctx):
        raise ZeroDivisionError("boom")


def test_sigterm_commits_what_was_processed_since_the_last_periodic_commit(kafka_bootstrap, topic_prefix, tmp_path):
    """With periodic commits ten minutes apart, only the graceful stop can commit: lag must be 0 after SIGTERM."""
    records, sim_toml = data_set()
    text, config = worker_config(kafka_bootstrap, topic_prefix, sim_toml)
    text = text.replace("[worker]\n", "[worker]\ncommit_interval_s = 600\n")
    assert len(records) < 10_000  # Faust also commits every broker_commit_every (10,000) acked records
    expected = cases_in_findings(replay_run(records, config)[0])
    create_topics(config)
    produce(config, as_kafka(records))
    worker = RunningWorker(tmp_path, text)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while cases_in_findings([json.loads(r.value) for r in read_topic(kafka_bootstrap, config.topics.alerts)]) \
                != expected:  # every case replay found is out: the input has been processed
            assert worker.proc.poll() is None and time.monotonic() < deadline, worker.output()[-4000:]
            time.sleep(1.0)
        time.sleep(5.0)  # the last records after the last finding (5,000 records take well under a second)
        before = lag(config)  # None: the group has committed nothing yet
        assert before is None or before > 0, "the stop must be the only commit of this input"
    finally:
        code = worker.stop()
    assert code == 0, worker.output()[-4000:]
    assert lag(config) == 0, f"uncommitted after SIGTERM: {lag(config, per_partition=True)}"


def test_a_redelivery_of_everything_changes_no_employee_state(kafka_bootstrap, topic_prefix, tmp_path):
    """The group's offsets deleted after a run, the worker reads every record again: each is a duplicate.

    Forty events of one employee: more than the event ids an employee state remembers
    (`SEEN_IDS`), so only the state's position in each topic-partition recognises the first
    ones; what a crash or a rebalance redelivers, at up to a commit interval, is the same.
    """
    text, config = worker_config(kafka_bootstrap, topic_prefix)
    home = {k: CHICAGO[k] for k in ("city", "country", "lat", "lon")}
    records = [line("employee", "r-1", home=home, timezone="America/Chicago")]
    for i in range(40):
        records.append(line("vpn_login", "r-1", 1 + i, event_id=f"r-1-vpn-{i}", src_ip="24.12.7.3", geo=geo(CHICAGO)))
        if i % 2:
            records.append(line("device_snapshot", "r-1", 1.5 + i, event_id=f"r-1-dev-{i}", device_id="lt-r-1",
                                processes=["chrome", "slack"]))
    create_topics(config)
    produce(config, as_kafka(records))

    def run(name: str) -> tuple[dict, int]:
        (tmp_path / name).mkdir()
        run_until_drained(tmp_path / name, text, config)
        state = worker_states(config)["r-1"]
        return (state.last, state.seen, state.det, state.pos), len(read_topic(kafka_bootstrap, config.topics.alerts))

    first, findings = run("first")
    assert len(first[3]) == 2  # positions in the vpn and the device topic-partitions
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.delete_groups([config.worker.app_id])
    finally:
        admin.close()
    assert lag(config) is None  # the group's offsets are gone: the next worker starts from the first records
    again, findings_again = run("again")
    assert again == first
    assert findings_again == findings
