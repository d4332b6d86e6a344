"""`telltales adapt --kafka --input-topic`: the adapter sidecar as a service on the real broker.

Each service test runs `telltales adapt --from okta` as a subprocess (as it runs in a
Deployment) and stops it with SIGTERM; `Outputs` reads what it produced. Okta records
come from `test_adapter_okta.sign_in`, so an event's id ("okta:<uuid>") names the
record it came from.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from prometheus_client.parser import text_string_to_metric_families

from telltales.schemas import adapters
from telltales.schemas.adapters import AdapterError, Identities, Translator
from telltales.schemas.dlq import DlqEnvelope
from telltales.schemas.rejections import Rejection
from telltales.streams import adapt_metrics, cli
from telltales.streams.adapt import MAX_SKIP_REASONS, OTHER_REASONS, Run, Tally
from telltales.streams.adapt_metrics import AdapterMetrics
from telltales.streams.topics import create_topics, topic_value

from builders import employee
from test_adapter_okta import sign_in
from test_adapter_osquery import directory as osquery_directory, snapshot as osquery_snapshot, usb
from test_adapters import kafka_config

TELLTALES = [sys.executable, "-c", "import sys; from telltales.streams.cli import main; sys.exit(main())"]
WAIT_S = 30.0  # generous: other helpers share this machine's two cores
ANA, BO = "Ana.Kim@example.com", "bo@example.com"


# --- without a broker ---------------------------------------------------------------------

def test_a_removed_employee_names_nobody_and_an_alias_they_shared_is_no_longer_ambiguous():
    ids = Identities()
    ids.add(employee("emp-1", aliases=["akim", "shared"]))
    ids.add(employee("emp-2", aliases=["shared"]))
    ids.remove("emp-1")
    ids.remove("emp-404")  # an employee never seen: nothing to forget
    assert len(ids) == 1
    assert ids.resolve("shared", "user") == "emp-2"
    for name in ("akim", "emp-1"):
        with pytest.raises(AdapterError) as caught:
            ids.resolve(name, "user")
        assert caught.value.rejection == Rejection(
            "unknown_identity", "user", f"`user` is {name!r}: no employee record lists it as its id or an alias")


@pytest.mark.parametrize("name, record, expected_id", [
    ("okta", sign_in(uuid="u1"), "okta:u1"),
    ("osquery", osquery_snapshot("usb_devices", [usb()]), None),  # the decoder's hash of the event
])
def test_a_record_read_twice_gives_the_same_event_id_so_the_worker_drops_the_duplicate(name, record, expected_id):
    data = json.dumps(record).encode()
    # osquery's test directory names both Ana's laptop and her Okta login; a new Translator each time.
    first, again = ([e.event_id for e in Translator(adapters.load(name), osquery_directory()).translate(data)]
                    for _ in range(2))
    assert first == again
    assert (first[0] == expected_id) if expected_id else (len(first[0]) == 32)


def test_skip_reasons_beyond_the_cap_are_counted_together():
    tally = Tally()
    for n in range(MAX_SKIP_REASONS + 5):
        tally.skip(f"eventType custom.{n} is not a sign-in")
    tally.skip("eventType custom.0 is not a sign-in")
    assert len(tally.skipped) == MAX_SKIP_REASONS + 1
    assert tally.skipped[OTHER_REASONS] == 5
    assert tally.skipped["eventType custom.0 is not a sign-in"] == 2


def test_adapter_metrics_are_named_and_labelled_by_the_rules_and_exist_before_traffic():
    families = {f.name: f for f in text_string_to_metric_families(
        AdapterMetrics("okta", version="9.9.9", process=False).exposition().decode())}
    for name in (adapt_metrics.RECORDS, adapt_metrics.REJECTS, adapt_metrics.NEWEST_EVENT, adapt_metrics.DIRECTORY):
        family = families[name.removesuffix("_total")]
        assert family.type == ("counter" if name.endswith("_total") else "gauge"), name
        assert family.samples, name
        for sample in family.samples:
            assert sample.value == 0 and set(sample.labels) <= adapt_metrics.LABELS, sample


def test_the_directory_gauge_shows_the_directory_files_from_the_start_whatever_the_mode():
    metrics = AdapterMetrics("osquery", version="9.9.9", process=False)
    Run(Translator(adapters.load("osquery"), osquery_directory()), lambda event: None, None, metrics=metrics)
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    [sample] = families[adapt_metrics.DIRECTORY].samples
    assert sample.value == len(osquery_directory()) > 0


@pytest.mark.parametrize("argv, problem", [
    (["--input-topic", "okta.raw"], "--input-topic and --directory-topic read from Kafka: add --kafka"),
    (["--kafka", "--input-topic", "okta.raw", "x.jsonl"],
     "--input-topic reads the vendor records from the topic; leave out FILE"),
    (["--kafka"], "name the vendor records: FILE (- = stdin) or --kafka --input-topic TOPIC"),
    (["--group", "g", "-"], "--group is the consumer group of --input-topic"),
])
def test_adapt_says_which_options_do_not_go_together(argv, problem, tmp_path, capsys):
    directory = tmp_path / "employees.jsonl"
    directory.write_bytes(msgspec.json.encode(employee("emp-1")) + b"\n")
    assert cli.main(["adapt", "--from", "okta", "--directory", str(directory), *argv]) == 2
    assert capsys.readouterr().err == f"telltales adapt: {problem}\n"


def test_adapt_needs_a_directory(capsys):
    assert cli.main(["adapt", "--from", "okta", "-"]) == 2
    assert capsys.readouterr().err == (
        "telltales adapt: name the directory: --directory FILE or --kafka --directory-topic\n")


# --- the service on the real broker -------------------------------------------------------

def record(uuid: str, login: str = ANA, **fields: Any) -> bytes:
    return json.dumps(sign_in(uuid=uuid, login=login, **fields)).encode()


class Broker:
    """The test's topics (names prefixed) on the session broker, and producing to them."""

    def __init__(self, tmp_path, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.config_file, self.config = kafka_config(tmp_path, bootstrap, prefix)
        create_topics(self.config)
        self.raw = f"{prefix}okta.raw"
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            admin.create_topics([NewTopic(self.raw, 2, 1)])
        finally:
            admin.close()
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)

    def produce(self, topic: str, messages: list[tuple[bytes | None, bytes | None]], partition: int | None = None):
        """Send and wait for every acknowledgement; the (partition, offset) of each message."""
        futures = [self._producer.send(topic, key=key, value=value, partition=partition) for key, value in messages]
        self._producer.flush()
        return [(m.partition, m.offset) for m in (f.get(timeout=10) for f in futures)]

    def directory(self, *employees, erased: tuple[str, ...] = ()) -> None:
        self.produce(self.config.topics.employees,
                     [(e.employee_id.encode(), topic_value(e)) for e in employees]
                     + [(eid.encode(), None) for eid in erased])

    def close(self) -> None:
        self._producer.close()


@pytest.fixture
def broker(tmp_path, kafka_bootstrap, topic_prefix):
    b = Broker(tmp_path, kafka_bootstrap, topic_prefix)
    yield b
    b.close()


class Outputs:
    """Everything on the telemetry VPN topic and the DLQ topic, read from the beginning as it arrives."""

    def __init__(self, broker: Broker) -> None:
        topics = broker.config.topics
        self.vpn, self.dlq = topics.vpn, topics.dlq
        self._consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
        partitions = [TopicPartition(t, p) for t in (self.vpn, self.dlq) for p in range(topics.partitions)]
        self._consumer.assign(partitions)
        self._consumer.seek_to_beginning(*partitions)
        self.events: list[Any] = []
        self.rejects: list[Any] = []

    def wait(self, until: Callable[[Outputs], bool], timeout_s: float = WAIT_S) -> Outputs:
        deadline = time.monotonic() + timeout_s
        while not until(self) and time.monotonic() < deadline:
            for records in self._consumer.poll(timeout_ms=200).values():
                for r in records:
                    (self.events if r.topic == self.vpn else self.rejects).append(r)
        return self

    def event_ids(self) -> set[str]:
        return {json.loads(r.value)["event_id"] for r in self.events}

    def envelopes(self) -> list[DlqEnvelope]:
        return [msgspec.json.decode(r.value, type=DlqEnvelope) for r in self.rejects]

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture
def outputs(broker):
    o = Outputs(broker)
    yield o
    o.close()


class Service:
    """`telltales adapt --from okta --kafka --input-topic RAW ...` as a subprocess."""

    def __init__(self, broker: Broker, tmp_path, *args: str) -> None:
        self.stderr_path = tmp_path / f"adapt-{time.monotonic_ns()}.err"
        with open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [*TELLTALES, "adapt", "--from", "okta", "--config", broker.config_file, "--kafka",
                 "--input-topic", broker.raw, *args], stdout=subprocess.DEVNULL, stderr=err)

    def stop(self) -> tuple[int, list[str]]:
        """SIGTERM; the exit code and the stderr lines."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        return code, self.stderr_path.read_text().splitlines()


@pytest.fixture
def services():
    started: list[Service] = []
    yield started
    for service in started:  # a test that failed half-way leaves no process behind
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait()


def start(services: list[Service], broker: Broker, tmp_path, *args: str) -> Service:
    services.append(Service(broker, tmp_path, *args))
    return services[-1]


def directory_file(tmp_path) -> str:
    path = tmp_path / "employees.jsonl"
    path.write_bytes(msgspec.json.encode(employee("emp-1", aliases=[ANA])) + b"\n"
                     + msgspec.json.encode(employee("emp-2", aliases=[BO])) + b"\n")
    return str(path)


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset of each partition of `topic` that has one."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        offsets = {p: consumer.committed(TopicPartition(topic, p)) for p in consumer.partitions_for_topic(topic)}
        return {p: offset for p, offset in offsets.items() if offset is not None}
    finally:
        consumer.close()


def all_committed(broker: Broker, group: str) -> bool:
    return committed(broker.bootstrap, group, broker.raw) == end_offsets(broker.bootstrap, broker.raw)


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: end for tp, end in consumer.end_offsets(partitions).items() if end}
    finally:
        consumer.close()


@pytest.mark.kafka
def test_raw_topic_records_become_keyed_events_and_dlq_envelopes_and_their_offsets_are_committed(
        broker, outputs, services, tmp_path):
    [_, (bad_partition, bad_offset), _, _] = broker.produce(broker.raw, [
        (b"r1", record("u1")), (b"r2", record("u2", login="mallory@example.com")),
        (b"r3", record("u3", event_type="user.account.update_password")), (b"r4", record("u4", login=BO))])
    group = f"{broker.raw}.adapt"
    service = start(services, broker, tmp_path, "--directory", directory_file(tmp_path), "--group", group)
    outputs.wait(lambda o: len(o.events) >= 2 and len(o.rejects) >= 1 and all_committed(broker, group))
    code, stderr = service.stop()
    assert code == 0, stderr
    assert stderr[0] == "adapt (okta): 4 records; 2 events written; 1 skipped; 1 rejected"
    assert sorted((r.key, json.loads(r.value)["event_id"]) for r in outputs.events) == [
        (b"emp-1", "okta:u1"), (b"emp-2", "okta:u4")]
    [reject], [envelope] = outputs.rejects, outputs.envelopes()
    assert reject.key == b"r2"
    assert (envelope.stage, envelope.adapter, envelope.code, envelope.source) == (
        "adapter", "okta", "unknown_identity",
        {"topic": broker.raw, "partition": bad_partition, "offset": bad_offset, "key": "r2"})
    assert base64.b64decode(envelope.original_b64) == record("u2", login="mallory@example.com")
    assert all_committed(broker, group)

    broker.produce(broker.raw, [(b"r5", record("u5"))])
    again = start(services, broker, tmp_path, "--directory", directory_file(tmp_path), "--group", group)
    outputs.wait(lambda o: len(o.events) >= 3)
    code, stderr = again.stop()
    assert code == 0, stderr
    assert stderr[0] == "adapt (okta): 1 records; 1 events written; 0 skipped; 0 rejected"  # only the new one
    assert sorted(outputs.event_ids()) == ["okta:u1", "okta:u4", "okta:u5"] and len(outputs.events) == 3


@pytest.mark.kafka
def test_the_directory_topic_is_followed_a_new_hire_resolves_and_an_erased_employee_does_not(
        broker, outputs, services, tmp_path):
    broker.directory(employee("emp-1", aliases=[ANA]), employee("emp-2", aliases=[BO]))
    broker.produce(broker.raw, [(None, record("u1")), (None, record("u2", login=BO))])
    service = start(services, broker, tmp_path, "--directory-topic")
    outputs.wait(lambda o: len(o.events) >= 2)
    assert outputs.event_ids() == {"okta:u1", "okta:u2"}

    broker.directory(employee("emp-9", aliases=["new.hire@example.com"]), erased=("emp-2",))
    broker.produce(broker.raw, [(None, record("u3", login="New.Hire@example.com")), (None, record("u4", login=BO))])
    outputs.wait(lambda o: len(o.events) >= 3 and len(o.rejects) >= 1)
    code, stderr = service.stop()
    assert code == 0, stderr
    assert stderr[0] == "adapt (okta): 4 records; 3 events written; 0 skipped; 1 rejected"
    assert {(r.key, json.loads(r.value)["event_id"]) for r in outputs.events} == {
        (b"emp-1", "okta:u1"), (b"emp-2", "okta:u2"), (b"emp-9", "okta:u3")}
    [envelope] = outputs.envelopes()
    assert (envelope.code, envelope.path, envelope.message) == (
        "unknown_identity", "actor.alternateId",
        "`actor.alternateId` is 'bo@example.com': no employee record lists it as its id or an alias")


@pytest.mark.kafka
def test_a_non_json_message_goes_to_the_dlq_with_its_reason_and_the_service_keeps_going(
        broker, outputs, services, tmp_path):
    broker.produce(broker.raw, [(b"a", record("u1")), (b"b", b"not json"), (b"c", None), (b"d", record("u2"))],
                   partition=0)
    service = start(services, broker, tmp_path, "--directory", directory_file(tmp_path))
    outputs.wait(lambda o: len(o.events) >= 2 and len(o.rejects) >= 2)
    code, stderr = service.stop()
    assert code == 0, stderr
    assert outputs.event_ids() == {"okta:u1", "okta:u2"}
    assert [(r.key, e.code, e.message, e.source["offset"], base64.b64decode(e.original_b64))
            for r, e in zip(outputs.rejects, outputs.envelopes())] == [
        (b"b", "bad_json", "malformed JSON: invalid character (byte 4)", 1, b"not json"),
        (b"c", "bad_json", "the message is empty", 2, b"")]
    assert stderr[:2] == ["adapt (okta): 4 records; 2 events written; 0 skipped; 2 rejected", "  rejected: bad_json 2"]


@pytest.mark.kafka
def test_the_metrics_endpoint_counts_records_by_outcome_and_rejects_by_code(
        broker, outputs, services, tmp_path, free_port):
    broker.produce(broker.raw, [
        (None, record("u1", published="2026-03-02T09:00:00.000Z")), (None, record("u2", login="mallory@x.example")),
        (None, b"[]"), (None, record("u3", event_type="user.account.update_password")),
        (None, record("u4", published="2026-03-02T10:30:00.000Z"))])
    service = start(services, broker, tmp_path, "--directory", directory_file(tmp_path),
                    "--metrics-port", str(free_port))
    outputs.wait(lambda o: len(o.events) >= 2 and len(o.rejects) >= 2)
    samples = {}
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:  # the envelopes are on the topic before the process has counted them all
        with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(text) for s in f.samples}
        if sum(v for (name, _), v in samples.items() if name == adapt_metrics.RECORDS) == 5:
            break
        time.sleep(0.2)
    code, stderr = service.stop()
    assert code == 0, stderr

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({"adapter": "okta", **labels}.items())))]

    assert [value(adapt_metrics.RECORDS, outcome=o) for o in adapt_metrics.OUTCOMES] == [2, 1, 2]
    assert value(adapt_metrics.REJECTS, code="unknown_identity") == 1
    assert value(adapt_metrics.REJECTS, code="not_object") == 1
    assert value(adapt_metrics.REJECTS, code="bad_json") == 0
    assert value(adapt_metrics.NEWEST_EVENT) == 1772447400.0  # 2026-03-02T10:30:00Z, the newer of the two
    assert value(adapt_metrics.DIRECTORY) == 2
    assert all(set(dict(labels)) <= adapt_metrics.LABELS for name, labels in samples if name.startswith("telltales_"))


@pytest.mark.kafka
def test_sigterm_mid_stream_loses_nothing_a_restart_in_the_same_group_reads_the_rest(
        broker, outputs, services, tmp_path):
    n = 12000
    messages, valid, skips = [], set(), 0
    for i in range(n):
        if i % 10 == 0:
            messages.append((f"k{i}".encode(), b"{broken"))
        elif i % 10 == 1:
            messages.append((f"k{i}".encode(), record(f"s{i}", event_type="user.account.update_password")))
            skips += 1
        else:
            messages.append((f"k{i}".encode(), record(f"u{i}")))
            valid.add(f"okta:u{i}")
    placed = broker.produce(broker.raw, messages)
    broken = {placed[i] for i in range(0, n, 10)}
    group = f"{broker.raw}.adapt"

    first = start(services, broker, tmp_path, "--directory", directory_file(tmp_path), "--group", group)
    outputs.wait(lambda o: len(o.events) >= 1)
    code, stderr = first.stop()
    assert code == 0, stderr
    first_tally = summary_counts(stderr[0])
    read_first = committed(broker.bootstrap, group, broker.raw)
    assert first_tally["records"] == sum(read_first.values()) < n  # stopped mid-stream, all it read committed

    second = start(services, broker, tmp_path, "--directory", directory_file(tmp_path), "--group", group)
    outputs.wait(lambda o: o.event_ids() == valid
                 and {(e.source["partition"], e.source["offset"]) for e in o.envelopes()} == broken
                 and all_committed(broker, group), timeout_s=60)  # the last records may be skips: no output
    code, stderr = second.stop()
    assert code == 0, stderr
    assert outputs.event_ids() == valid  # none missing (a duplicate would be allowed: the worker drops it)
    assert {(e.source["partition"], e.source["offset"]) for e in outputs.envelopes()} == broken
    assert all_committed(broker, group)
    second_tally = summary_counts(stderr[0])
    # A stop between batches re-reads nothing: the two runs together read each record once.
    assert {k: first_tally[k] + second_tally[k] for k in first_tally} == {
        "records": n, "events": len(valid), "skipped": skips, "rejected": len(broken)}


def summary_counts(line: str) -> dict[str, int]:
    """'adapt (okta): 4 records; 2 events written; 0 skipped; 1 rejected' → the four numbers."""
    words = line.split()
    return {"records": int(words[2]), "events": int(words[4]), "skipped": int(words[7]), "rejected": int(words[9])}


@pytest.mark.kafka
def test_a_file_adapted_to_kafka_can_take_its_directory_from_the_topic(broker, outputs, tmp_path, capsys):
    broker.directory(employee("emp-1", aliases=[ANA]), employee("emp-2", aliases=[BO]), erased=("emp-2",))
    broker.produce(broker.config.topics.employees, [(b"emp-3", b'{"employee_id": "emp-3", "status": "gone"}')])
    records = tmp_path / "okta.jsonl"
    records.write_bytes(record("u1") + b"\n" + record("u2", login=BO) + b"\n")
    assert cli.main(["adapt", "--from", "okta", "--config", broker.config_file, "--kafka", "--directory-topic",
                     str(records)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "adapt (okta): 2 records; 1 events written; 0 skipped; 1 rejected", "  rejected: unknown_identity 1",
        "  directory topic: employee 2, erased 1, refused 1 (refused: the contract refuses them or their key is "
        "not their employee id; the worker sends them to the DLQ)"]
    outputs.wait(lambda o: len(o.events) >= 1 and len(o.rejects) >= 1)
    assert [(r.key, json.loads(r.value)["event_id"]) for r in outputs.events] == [(b"emp-1", "okta:u1")]
    assert [e.source for e in outputs.envelopes()] == [{"file": str(records), "line": 2}]


@pytest.mark.kafka
def test_an_empty_directory_topic_stops_the_adapter_before_it_reads_a_record(broker, capsys):
    assert cli.main(["adapt", "--from", "okta", "--config", broker.config_file, "--kafka", "--directory-topic",
                     "-"]) == 2
    assert capsys.readouterr().err == (f"telltales adapt: no employee records in the directory topic "
                                       f"{broker.config.topics.employees}: every user would be unknown\n")


@pytest.mark.kafka
def test_a_missing_input_topic_is_a_one_line_error(broker, tmp_path, capsys):
    assert cli.main(["adapt", "--from", "okta", "--config", broker.config_file, "--kafka", "--directory",
                     directory_file(tmp_path), "--input-topic", f"{broker.raw}.missing"]) == 2
    assert capsys.readouterr().err == f"telltales adapt: the input topic {broker.raw}.missing does not exist\n"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        assert f"{broker.raw}.missing" not in admin.list_topics()  # asking did not create it
    finally:
        admin.close()
