"""`telltales eval` on small hand-made findings and labels: exact numbers, table, JSON and HTML."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from telltales.streams.cli import main as cli
from telltales.streams.evaluate import EvalError, evaluate, format_table, load_findings, percentile, render_html

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)


def ms(hours: float) -> int:
    return int((T0 + dt.timedelta(hours=hours)).timestamp() * 1000)


def iso(hours: float) -> str:
    return (T0 + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def finding(uid: str, hours: float, activity: int, risk: float, *detectors: str) -> dict:
    return {"class_uid": 2004, "activity_id": activity, "time": ms(hours), "risk_score": risk, "severity_id": 3,
            "actor": {"user": {"uid": uid}}, "finding_info": {"uid": f"case-{uid}", "types": ["telltales"]},
            "evidences": [{"data": {"detector": d, "weight": 20, "contribution": 10}} for d in detectors]}


LABELS = {
    "format": 1, "seed": 42, "employees": 1000, "days": 14, "start": "2026-03-02", "end": "2026-03-16",
    "operatives": {
        "f1": {"scenario": "laptop_farm", "first_telling_time": iso(0), "group": "farm-1", "params": {}},
        "f2": {"scenario": "laptop_farm", "first_telling_time": iso(0), "group": "farm-1", "params": {}},
        "f3": {"scenario": "laptop_farm", "first_telling_time": iso(0), "group": "farm-1", "params": {}},
        "r1": {"scenario": "remote_control", "first_telling_time": iso(26), "group": None, "params": {}},
        "v1": {"scenario": "vpn_offshore", "first_telling_time": iso(38), "group": None, "params": {}},
    },
    "scenario_params": {},
    "cohorts": {"n7": ["couple"], "n8": ["traveller", "office"]},
}

FINDINGS = [
    finding("f1", 2, 1, 65, "shared_infrastructure", "ip_kvm"),
    finding("f2", 4, 1, 61, "shared_infrastructure"),
    finding("f2", 6, 2, 80, "shared_infrastructure", "latency_physics"),
    finding("f3", 1, 2, 40, "shared_infrastructure"),  # an Update alone does not flag
    finding("f3", 10, 1, 70, "latency_physics"),
    finding("r1", 27.5, 1, 72, "remote_control"),
    finding("r1", 30, 3, 20, "remote_control"),
    finding("n7", 50, 1, 62, "shared_infrastructure"),
    finding("n8", 60, 3, 10, "impossible_travel"),  # a Close alone does not flag
    finding("n9", 70, 1, 60, "baseline_anomaly"),
]

EXPECTED_TABLE = """\
scenario         operatives  found  recall  ttd_median_h  ttd_p90_h  detectors
------------------------------------------------------------------------------
laptop_farm               3      3   1.000          4.00       8.80  shared_infrastructure 3, latency_physics 2, ip_kvm 1
remote_control            1      1   1.000          1.50       1.50  remote_control 1
vpn_offshore              1      0   0.000             -          -  -
------------------------------------------------------------------------------
overall                   5      4   0.800          3.00       8.20  shared_infrastructure 3, latency_physics 2, ip_kvm 1, remote_control 1

false positives: 2 flagged non-operatives = 2.00 per 1,000 employees (1,000 employees); cohorts: (none) 1, couple 1
missed: v1 (vpn_offshore)
findings read: 10 (2 unusable lines skipped); employees flagged: 6
"""


def _lines() -> list[bytes]:
    return [json.dumps(f).encode() for f in FINDINGS] + [b"not json", b'{"activity_id": 1}', b""]


def test_percentile_matches_numpy_linear():
    assert percentile([2.0, 4.0, 10.0], 0.5) == 4.0
    assert percentile([2.0, 4.0, 10.0], 0.9) == 8.8
    assert percentile([7.0], 0.9) == 7.0


def test_exact_numbers():
    findings, unusable = load_findings(_lines())
    report = evaluate(findings, LABELS, unusable=unusable)
    farm, remote, offshore = report["scenarios"]
    assert farm == {"scenario": "laptop_farm", "operatives": 3, "found": 3, "recall": 1.0, "ttd_median_h": 4.0,
                    "ttd_p90_h": 8.8, "detectors": {"shared_infrastructure": 3, "latency_physics": 2, "ip_kvm": 1},
                    "missed": []}
    assert remote["ttd_median_h"] == 1.5 and remote["detectors"] == {"remote_control": 1}
    assert offshore["found"] == 0 and offshore["recall"] == 0.0 and offshore["ttd_median_h"] is None
    assert offshore["missed"] == ["v1"]
    overall = report["overall"]
    assert (overall["operatives"], overall["found"], overall["recall"]) == (5, 4, 0.8)
    assert (overall["ttd_median_h"], overall["ttd_p90_h"]) == (3.0, 8.2)
    assert (overall["false_positives"], overall["fp_per_1000"]) == (2, 2.0)
    assert report["false_positives"] == {"count": 2, "per_1000": 2.0, "ids": ["n7", "n9"],
                                         "cohorts": {"(none)": 1, "couple": 1}}
    assert report["operatives"]["f3"]["ttd_h"] == 10.0 and report["operatives"]["r1"]["ttd_h"] == 1.5
    assert (report["findings"], report["unusable_lines"], report["flagged"]) == (10, 2, 6)


def test_table_is_exactly_as_expected():
    findings, unusable = load_findings(_lines())
    assert format_table(evaluate(findings, LABELS, unusable=unusable)) == EXPECTED_TABLE


def test_cli_prints_the_table_and_writes_the_same_numbers_as_json_and_html(tmp_path, capsys):
    findings_path = tmp_path / "findings.jsonl"
    findings_path.write_bytes(b"\n".join(_lines()))
    labels_path = tmp_path / "labels.json"
    labels_path.write_text(json.dumps(LABELS))
    out_json, out_html = tmp_path / "eval.json", tmp_path / "eval.html"
    assert cli(["eval", str(findings_path), str(labels_path), "--json", str(out_json), "--html", str(out_html)]) == 0
    assert capsys.readouterr().out == EXPECTED_TABLE
    report = json.loads(out_json.read_text())
    assert report["overall"]["recall"] == 0.8 and report["false_positives"]["per_1000"] == 2.0
    page = out_html.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 6  # f1 f2 f3 r1 n7 n9
    for uid in ("f1", "f2", "f3", "r1", "n7", "n9"):
        assert f"{uid} — " in page
    assert "false positive" in page and "laptop_farm" in page and "first telling event" in page
    for external in ("<script", "<link", " src=", " href=", "@import", "url("):
        assert external not in page, external


def test_html_marks_each_detector_once_per_employee():
    findings, _ = load_findings(_lines())
    page = render_html(evaluate(findings, LABELS), findings, LABELS)
    f2_chart = page.split("f2 — ")[1].split("</svg>")[0]
    assert f2_chart.count("<title>shared_infrastructure</title>") == 1
    assert f2_chart.count("<title>latency_physics</title>") == 1


def test_no_findings_means_nothing_found_and_no_false_positives():
    report = evaluate([], LABELS)
    assert report["overall"]["found"] == 0 and report["false_positives"]["count"] == 0
    assert "0.000" in format_table(report)


def test_bad_labels_are_refused(tmp_path, capsys):
    with pytest.raises(EvalError):
        evaluate([], {"format": 2})
    bad = tmp_path / "labels.json"
    bad.write_text("{}")
    empty = tmp_path / "f.jsonl"
    empty.write_text("")
    assert cli(["eval", str(empty), str(bad)]) == 2
    assert "labels" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--json", "--html"])
def test_a_report_file_that_cannot_be_written_is_a_one_line_error(tmp_path, capsys, option):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"format": 1, "seed": 0, "employees": 10, "days": 1, "start": "2026-03-02",
                                  "end": "2026-03-03", "operatives": {}, "scenario_params": {}, "cohorts": {}}))
    empty = tmp_path / "f.jsonl"
    empty.write_text("")
    target = tmp_path / "no-such-folder" / "report"
    assert cli(["eval", str(empty), str(labels), option, str(target)]) == 2
    assert capsys.readouterr().err == f"telltales eval: cannot write {target}: No such file or directory\n"


def test_docstring_examples_run():
    import doctest

    from telltales.streams import evaluate as module

    result = doctest.testmod(module)
    assert result.attempted >= 1 and result.failed == 0
