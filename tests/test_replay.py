"""`telltales replay`: deterministic bytes, rejects to the DLQ with reasons, duplicates change nothing."""

from __future__ import annotations

import io
import json

import msgspec
import pytest

from builders import CHICAGO, SEOUL, at, geo
from telltales.streams.cli import main


def line(event_type: str, employee_id: str = "e1", hours: float | None = None, **fields) -> bytes:
    record = {"event_type": event_type, "employee_id": employee_id, **fields}
    if hours is not None:
        record["ts"] = at(hours)
    return msgspec.json.encode(record)


def scenario() -> list[bytes]:
    """An employee at home in Chicago whose laptop grows a PiKVM and then logs in from Seoul."""
    home = {k: CHICAGO[k] for k in ("city", "country", "lat", "lon")}
    return [
        line("employee", home=home, timezone="America/Chicago"),
        line("vpn_login", hours=0, src_ip="203.0.113.9", geo=geo(CHICAGO)),
        line("device_snapshot", hours=1, usb_devices=[{"vendor_id": "1D6B", "product_id": "0104", "product": "PiKVM"}]),
        line("vpn_login", hours=2, src_ip="203.0.113.77", geo=geo(SEOUL)),
    ]


def write(tmp_path, name: str, lines: list[bytes]):
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


def run(capsys, *args: str) -> tuple[int, bytes, str]:
    code = main(["replay", "--quiet", *args])
    captured = capsys.readouterr()
    return code, captured.out.encode(), captured.err


def test_same_input_gives_the_same_bytes_and_a_finding(tmp_path, capsys):
    events = write(tmp_path, "events.jsonl", scenario())
    first = tmp_path / "a.jsonl"
    second = tmp_path / "b.jsonl"
    assert main(["replay", "--quiet", events, "--alerts", str(first)]) == 0
    assert main(["replay", "--quiet", events, "--alerts", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    findings = [json.loads(x) for x in first.read_bytes().splitlines()]
    # The PiKVM alone opens the case; the impossible trip that follows updates it with a new detector.
    assert [f["activity_id"] for f in findings] == [1, 2]
    assert {f["actor"]["user"]["uid"] for f in findings} == {"e1"}
    assert len({f["finding_info"]["uid"] for f in findings}) == 1
    assert {e["data"]["detector"] for e in findings[1]["evidences"]} >= {"ip_kvm", "impossible_travel"}


def test_rejects_go_to_the_dlq_with_reasons_and_valid_lines_still_count(tmp_path, capsys):
    bad = [b"not json", line("vpn_login", hours=3, src_ip="300.1.1.1"), b"\xff\xfe"]
    events = write(tmp_path, "events.jsonl", scenario() + bad)
    dlq_path = tmp_path / "dlq.jsonl"
    code, out, _ = run(capsys, events, "--dlq", str(dlq_path))
    assert code == 0
    envelopes = [json.loads(x) for x in dlq_path.read_bytes().splitlines()]
    assert [(e["code"], e["source"]["line"]) for e in envelopes] == [("bad_json", 5), ("bad_format", 6), ("not_utf8", 7)]
    assert envelopes[1]["path"] == "src_ip" and envelopes[1]["time"] == "2026-03-02T11:00:00Z"
    clean_code, clean_out, _ = run(capsys, write(tmp_path, "clean.jsonl", scenario()))
    assert out == clean_out, "bad lines must not change what the valid ones produce"
    assert main(["replay", "--quiet", "--strict", events, "--alerts", str(tmp_path / "x")]) == 1


def test_replaying_every_line_twice_changes_nothing(tmp_path, capsys):
    once = run(capsys, write(tmp_path, "once.jsonl", scenario()))[1]
    twice = run(capsys, write(tmp_path, "twice.jsonl", [x for e in scenario() for x in (e, e)]))[1]
    assert once == twice


def test_reads_stdin_and_reports_a_summary(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\n".join(scenario()))))
    code = main(["replay", "-"])
    err = capsys.readouterr().err
    assert code == 0
    assert "4 lines" in err and "4 accepted, 0 rejected" in err and "findings: create 1, update 1" in err


@pytest.mark.parametrize("args, message", [
    (["missing.jsonl"], "cannot read missing.jsonl: no such file"),
])
def test_fatal_errors_exit_2_with_a_message(tmp_path, capsys, args, message):
    assert main(["replay", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--alerts", "--dlq"])
def test_an_output_file_that_cannot_be_created_is_a_one_line_error(tmp_path, capsys, option):
    events = write(tmp_path, "e.jsonl", scenario())
    target = tmp_path / "no-such-folder" / "out.jsonl"
    assert main(["replay", "--quiet", option, str(target), events]) == 2
    assert capsys.readouterr().err == f"telltales replay: [Errno 2] No such file or directory: '{target}'\n"


def test_bad_config_is_fatal_and_names_the_key(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text("[fusion]\nhalf_life_hours = -1\n")
    assert main(["replay", "--config", str(config), write(tmp_path, "e.jsonl", scenario())]) == 2
    assert "bad value for `fusion.half_life_hours`" in capsys.readouterr().err


def test_metrics_out_writes_the_workers_counters_as_a_text_exposition(tmp_path, capsys):
    events = write(tmp_path, "events.jsonl", scenario() + [b"not json"])
    metrics = tmp_path / "metrics.prom"
    assert main(["replay", "--quiet", events, "--alerts", str(tmp_path / "a"), "--metrics-out", str(metrics)]) == 0
    text = metrics.read_text()
    assert 'telltales_events_consumed_total{outcome="accepted",topic="telemetry.vpn"} 2.0' in text
    assert 'telltales_dlq_writes_total{code="bad_json",stage="decode"} 1.0' in text
    assert 'telltales_signals_total{detector="ip_kvm"}' in text
    assert 'telltales_findings_total{activity="create",severity="medium"} 1.0' in text
    first = metrics.read_bytes()
    main(["replay", "--quiet", events, "--alerts", str(tmp_path / "b"), "--metrics-out", str(metrics)])
    assert metrics.read_bytes() == first


def test_read_lines_skips_blank_and_whitespace_lines_keeping_line_numbers(tmp_path) -> None:
    from telltales.streams.replay import read_lines

    events = scenario()
    path = tmp_path / "events.jsonl"
    path.write_bytes(events[0] + b"\r\n\n   \n\t\x0b\x0c\r\n" + events[1] + b"\n" + b" " + events[2] + b"\n\n" + events[3])
    got = list(read_lines([str(path)]))
    assert [(number, text) for _, number, text in got] == [
        (1, events[0]), (5, events[1]), (6, b" " + events[2]), (8, events[3])]
    assert {name for name, _, _ in got} == {str(path)}


def test_merge_interleaves_time_ordered_files_as_one_sorted_file_would_be_read(tmp_path, capsys):
    home = {k: CHICAGO[k] for k in ("city", "country", "lat", "lon")}
    directory = line("employee", home=home, timezone="America/Chicago")
    chicago = [line("vpn_login", hours=h, src_ip="203.0.113.9", geo=geo(CHICAGO)) for h in (0, 4)]
    seoul = line("vpn_login", hours=2, src_ip="203.0.113.77", geo=geo(SEOUL))
    files = [write(tmp_path, "directory.jsonl", [directory]), write(tmp_path, "okta.jsonl", chicago),
             write(tmp_path, "vpn.jsonl", [seoul])]
    sorted_file = write(tmp_path, "sorted.jsonl", [directory, chicago[0], seoul, chicago[1]])

    _, merged, _ = run(capsys, "--merge", *files)
    _, one_file, _ = run(capsys, sorted_file)
    _, in_turn, _ = run(capsys, *files)
    assert merged == one_file
    assert "impossible_travel" in merged.decode()
    # Read one file after the other, the Seoul login comes 2 h after the newest event: too late to travel from.
    assert "impossible_travel" not in in_turn.decode()


def test_merge_counts_the_lines_a_file_has_out_of_time_order(tmp_path, capsys):
    late_first = write(tmp_path, "late.jsonl", [line("vpn_login", hours=h, src_ip="203.0.113.9") for h in (3, 1, 2, 5)])
    assert main(["replay", "--merge", "--alerts", str(tmp_path / "a.jsonl"), late_first]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"  out of time order within their file (--merge could not place them): {late_first} 2")
