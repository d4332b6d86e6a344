"""The adapter framework: identities, the translator's checks, and `telltales adapt` end to end.

A small adapter defined here stands in for a vendor ("badge": a door-badge log that
records VPN-style logins) so these tests pin the framework, not one vendor's mapping.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
import pytest
from kafka import KafkaConsumer

from telltales.schemas import adapters
from telltales.schemas.adapters import AdapterError, Identities, Translator
from telltales.schemas.config import parse
from telltales.schemas.decoder import Decoder
from telltales.schemas.dlq import DlqEnvelope
from telltales.schemas.events import VpnLogin
from telltales.schemas.rejections import CODES, Rejection
from telltales.streams import cli
from telltales.streams.topics import create_topics

from builders import employee


class Badge:
    """{"user": ..., "at": RFC 3339, "ip": ..., "kind": "login" | other} → one vpn_login."""

    name = "badge"
    title = "test badge log"

    def adapt(self, record: dict[str, Any], identities: Identities) -> list[dict[str, Any]] | str:
        if record.get("kind") != "login":
            return f"kind {record.get('kind')!r} is not a login"
        if record.get("explode"):
            raise KeyError("no_such_field")
        return [{"event_type": "vpn_login", "employee_id": identities.resolve(record.get("user"), "user"),
                 "ts": record.get("at"), "src_ip": record.get("ip"), "source": "badge"}]


def directory() -> Identities:
    ids = Identities()
    ids.add(employee("emp-1", aliases=["Ana.Kim@example.com", "akim"]))
    ids.add(employee("emp-2", aliases=["shared@example.com"]))
    ids.add(employee("emp-3", aliases=["Shared@Example.com"]))
    return ids


def line(**fields: Any) -> bytes:
    return json.dumps({"kind": "login", "user": "akim", "at": "2026-03-02T09:00:00Z", "ip": "203.0.113.9",
                       **fields}).encode()


# --- identities ---------------------------------------------------------------------------

def test_an_alias_resolves_whatever_its_case_and_the_employee_id_is_a_name_too():
    ids = directory()
    assert ids.resolve("ANA.KIM@example.COM", "user") == "emp-1"
    assert ids.resolve("emp-1", "user") == "emp-1"
    assert len(ids) == 3


def test_an_updated_directory_record_replaces_the_employees_earlier_aliases():
    ids = directory()
    ids.add(employee("emp-1", aliases=["ana.kim@newco.example"]))
    assert ids.resolve("ana.kim@newco.example", "user") == "emp-1"
    with pytest.raises(AdapterError) as caught:
        ids.resolve("akim", "user")
    assert caught.value.rejection == Rejection(
        "unknown_identity", "user", "`user` is 'akim': no employee record lists it as its id or an alias")


def test_an_alias_two_employees_list_resolves_to_neither_and_names_both():
    with pytest.raises(AdapterError) as caught:
        directory().resolve("shared@example.com", "actor.alternateId")
    assert caught.value.rejection == Rejection(
        "unknown_identity", "actor.alternateId",
        "`actor.alternateId` is 'shared@example.com', an alias of 2 employees (emp-2, emp-3): fix the directory's aliases")


@pytest.mark.parametrize("name, shown", [(None, "missing"), ("", "''"), (7, "7")])
def test_a_missing_or_non_text_user_is_unknown(name, shown):
    with pytest.raises(AdapterError) as caught:
        directory().resolve(name, "user")
    assert caught.value.rejection == Rejection("unknown_identity", "user", f"`user` is {shown}: the record names no user")


# --- the translator -----------------------------------------------------------------------

def test_a_record_maps_to_a_checked_contract_event():
    [event] = Translator(Badge(), directory()).translate(line())
    assert isinstance(event, VpnLogin)
    assert (event.employee_id, event.src_ip, event.source) == ("emp-1", "203.0.113.9", "badge")
    assert len(event.event_id) == 32  # derived by the decoder, as for any event without one


def test_a_record_that_is_not_telemetry_is_skipped_with_its_reason():
    assert Translator(Badge(), directory()).translate(line(kind="door")) == "kind 'door' is not a login"


@pytest.mark.parametrize("data, expected", [
    (b'{"kind": "login", "user": ', Rejection("bad_json", "", "Input data was truncated")),
    (b'["login"]', Rejection("not_object", "", "expected a JSON object, got an array")),
    (b'{"user": "\xff"}', Rejection("not_utf8", "", "invalid UTF-8 at byte 10")),
])
def test_unreadable_bytes_are_refused_with_the_decoders_reasons(data, expected):
    assert Translator(Badge(), directory()).translate(data) == expected


def test_a_record_over_the_size_limit_is_refused_unread():
    data = line(pad="x" * 64)
    assert Translator(Badge(), directory(), max_event_bytes=64).translate(data) == Rejection(
        "too_large", "", f"message is {len(data)} bytes; the limit is 64")


def test_a_mapping_the_contract_refuses_is_rejected_with_the_decoders_path():
    assert Translator(Badge(), directory()).translate(line(ip="999.1.1.1")) == Rejection(
        "bad_format", "src_ip",
        'the badge record maps to an event the contract refuses: `src_ip` is "999.1.1.1"; expected IPv4 or IPv6 address')


def test_an_unknown_user_is_rejected_as_unknown_identity():
    result = Translator(Badge(), directory()).translate(line(user="mallory"))
    assert result == Rejection("unknown_identity", "user",
                               "`user` is 'mallory': no employee record lists it as its id or an alias")
    assert result.code in CODES


def test_an_adapter_that_raises_on_an_unforeseen_record_gives_a_rejection_not_a_crash():
    assert Translator(Badge(), directory()).translate(line(explode=True)) == Rejection(
        "adapter_error", "", "the badge adapter failed on this record: KeyError: 'no_such_field'")


def test_load_names_the_known_adapters_when_asked_for_another():
    with pytest.raises(ValueError, match=r"unknown adapter 'splunk'; known: "):
        adapters.load("splunk")


# --- telltales adapt ----------------------------------------------------------------------

@pytest.fixture
def badge_cli(monkeypatch):
    monkeypatch.setattr(adapters, "ADAPTERS", (*adapters.ADAPTERS, "badge"))
    monkeypatch.setattr(adapters, "load", lambda name: Badge())


def write_directory(tmp_path) -> str:
    path = tmp_path / "employees.jsonl"
    path.write_bytes(b"\n".join(msgspec.json.encode(e) for e in (
        employee("emp-1", aliases=["akim"]), employee("emp-2", aliases=["bo"]))) + b"\n")
    return str(path)


def test_adapt_writes_events_skips_by_reason_and_sends_rejects_to_the_dlq(badge_cli, tmp_path, capsys):
    records = tmp_path / "badge.jsonl"
    records.write_bytes(b"\n".join([
        line(), line(kind="door"), line(user="mallory", at="2026-03-02T10:00:00Z"),
        line(user="bo", at="2026-03-02T11:00:00Z"), b"not json", line(kind="door")]) + b"\n")
    out, dead = tmp_path / "events.jsonl", tmp_path / "dlq.jsonl"
    code = cli.main(["adapt", "--from", "badge", "--directory", write_directory(tmp_path), "--out", str(out),
                     "--dlq", str(dead), str(records)])
    assert code == 0
    events = [json.loads(x) for x in out.read_bytes().splitlines()]
    assert [(e["event_type"], e["employee_id"], e["ts"]) for e in events] == [
        ("vpn_login", "emp-1", "2026-03-02T09:00:00Z"), ("vpn_login", "emp-2", "2026-03-02T11:00:00Z")]
    envelopes = [msgspec.json.decode(x, type=DlqEnvelope) for x in dead.read_bytes().splitlines()]
    assert [(e.stage, e.adapter, e.code, e.source["line"], e.time) for e in envelopes] == [
        ("adapter", "badge", "unknown_identity", 3, "2026-03-02T09:00:00Z"),
        ("adapter", "badge", "bad_json", 5, "2026-03-02T11:00:00Z")]
    assert base64.b64decode(envelopes[1].original_b64) == b"not json"
    assert capsys.readouterr().err.splitlines() == [
        "adapt (badge): 6 records; 2 events written; 2 skipped; 2 rejected",
        "  skipped: kind 'door' is not a login (2)",
        "  rejected: bad_json 1, unknown_identity 1"]


def test_adapt_output_is_what_replay_reads(badge_cli, tmp_path, capsys):
    records = tmp_path / "badge.jsonl"
    records.write_bytes(line() + b"\n")
    out = tmp_path / "events.jsonl"
    directory_file = write_directory(tmp_path)
    assert cli.main(["adapt", "--from", "badge", "--directory", directory_file, "--out", str(out), str(records)]) == 0
    assert cli.main(["replay", "--strict", "--alerts", str(tmp_path / "alerts.jsonl"), directory_file, str(out)]) == 0
    assert "3 accepted, 0 rejected" in capsys.readouterr().err


def test_adapt_strict_exits_1_when_anything_was_rejected(badge_cli, tmp_path):
    records = tmp_path / "badge.jsonl"
    records.write_bytes(line(user="mallory") + b"\n")
    assert cli.main(["adapt", "--from", "badge", "--directory", write_directory(tmp_path), "--strict", "--quiet",
                     "--out", str(tmp_path / "o.jsonl"), str(records)]) == 1


def test_adapt_refuses_a_directory_with_a_broken_record_before_reading_any_vendor_record(badge_cli, tmp_path, capsys):
    broken = tmp_path / "employees.jsonl"
    broken.write_bytes(msgspec.json.encode(employee("emp-1")) + b'\n{"event_type": "employee"}\n')
    out = tmp_path / "o.jsonl"
    assert cli.main(["adapt", "--from", "badge", "--directory", str(broken), "--out", str(out), "-"]) == 2
    assert capsys.readouterr().err == (f"telltales adapt: directory {broken} line 2: "
                                       "missing_field: `employee_id` is required\n")
    assert not out.exists()


def test_adapt_refuses_a_directory_without_employee_records(badge_cli, tmp_path, capsys):
    empty = tmp_path / "employees.jsonl"
    empty.write_bytes(b"\n")
    assert cli.main(["adapt", "--from", "badge", "--directory", str(empty), "-"]) == 2
    assert capsys.readouterr().err == (f"telltales adapt: no employee records in {empty}: "
                                       "every user would be unknown\n")


def test_adapt_says_which_input_file_is_missing(badge_cli, tmp_path, capsys):
    assert cli.main(["adapt", "--from", "badge", "--directory", write_directory(tmp_path),
                     str(tmp_path / "nope.jsonl")]) == 2
    assert capsys.readouterr().err == f"telltales adapt: cannot read {tmp_path / 'nope.jsonl'}: no such file\n"


def test_the_framework_examples_run():
    import doctest

    from telltales.schemas.adapters import base

    result = doctest.testmod(base)
    assert result.attempted > 0 and result.failed == 0


# --- telltales adapt --kafka (the real broker) --------------------------------------------

def kafka_config(tmp_path, bootstrap: str, prefix: str):
    names = {"vpn": "telemetry.vpn", "remote_access": "telemetry.remote_access", "device": "telemetry.device",
             "employees": "directory.employees", "alerts": "siem.alerts", "dlq": "telltales.dlq"}
    text = (f'[kafka]\nbootstrap_servers = "{bootstrap}"\n[topics]\npartitions = 2\n'
            + "".join(f'{key} = "{prefix}{name}"\n' for key, name in names.items()))
    path = tmp_path / "telltales.toml"
    path.write_text(text)
    return str(path), parse(text)


def read_topic(bootstrap: str, topic: str, expected: int) -> list:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000, enable_auto_commit=False)
    records = []
    try:
        for record in consumer:  # stops after 5 s of silence, or as soon as everything has arrived
            records.append(record)
            if len(records) == expected:
                break
    finally:
        consumer.close()
    return records


@pytest.mark.kafka
def test_adapt_kafka_produces_events_keyed_by_employee_and_rejects_to_the_dlq_topic(
        badge_cli, tmp_path, kafka_bootstrap, topic_prefix, capsys):
    config_file, config = kafka_config(tmp_path, kafka_bootstrap, topic_prefix)
    create_topics(config)
    records = tmp_path / "badge.jsonl"
    records.write_bytes(b"\n".join([line(), line(user="mallory"), line(kind="door"),
                                    line(user="bo", at="2026-03-02T11:00:00Z")]) + b"\n")
    code = cli.main(["adapt", "--from", "badge", "--directory", write_directory(tmp_path), "--config", config_file,
                     "--kafka", str(records)])
    assert code == 0
    events = read_topic(kafka_bootstrap, config.topics.vpn, 2)
    assert sorted((r.key, json.loads(r.value)["employee_id"], "event_type" in json.loads(r.value)) for r in events) == [
        (b"emp-1", "emp-1", False), (b"emp-2", "emp-2", False)]
    assert all(Decoder("vpn_login").decode(r.value).source == "badge" for r in events)
    [dead] = read_topic(kafka_bootstrap, config.topics.dlq, 1)
    envelope = msgspec.json.decode(dead.value, type=DlqEnvelope)
    assert (dead.key, envelope.stage, envelope.adapter, envelope.code, envelope.source) == (
        None, "adapter", "badge", "unknown_identity", {"file": str(records), "line": 2})
    assert capsys.readouterr().err.splitlines()[0] == "adapt (badge): 4 records; 2 events written; 1 skipped; 1 rejected"


def test_adapt_kafka_says_in_one_line_when_the_broker_is_unreachable(badge_cli, tmp_path, free_port, capsys):
    config_file, _ = kafka_config(tmp_path, f"127.0.0.1:{free_port}", "")
    records = tmp_path / "badge.jsonl"
    records.write_bytes(line() + b"\n")
    assert cli.main(["adapt", "--from", "badge", "--directory", write_directory(tmp_path), "--config", config_file,
                     "--kafka", str(records)]) == 2
    assert capsys.readouterr().err == f"telltales adapt: cannot reach Kafka at 127.0.0.1:{free_port} (no broker answered)\n"


def test_adapt_kafka_refuses_file_outputs_beside_it(badge_cli, tmp_path, capsys):
    assert cli.main(["adapt", "--from", "badge", "--directory", write_directory(tmp_path), "--kafka",
                     "--dlq", str(tmp_path / "d.jsonl"), "-"]) == 2
    assert capsys.readouterr().err == "telltales adapt: --kafka writes to topics; leave out --out and --dlq\n"


def test_adapt_says_when_an_output_file_cannot_be_created(badge_cli, tmp_path, capsys):
    records = tmp_path / "badge.jsonl"
    records.write_bytes(line() + b"\n")
    target = tmp_path / "no-such-folder" / "events.jsonl"
    assert cli.main(["adapt", "--from", "badge", "--directory", write_directory(tmp_path), "--out", str(target),
                     str(records)]) == 2
    assert capsys.readouterr().err == f"telltales adapt: [Errno 2] No such file or directory: '{target}'\n"
