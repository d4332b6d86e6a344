"""The alert rules (the worker's and the adapter sidecar's): promtool checks them and runs their unit tests;
they only use metrics telltales exports.

promtool comes from Debian's `prometheus` package; when it is missing the test installs it
with deploy/install-prometheus.sh rather than skipping, so a fresh machine runs these too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from telltales.schemas.config import Config
from telltales.streams.adapt_metrics import AdapterMetrics
from telltales.streams.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "telltales-rules.yml"
RULE_TESTS = PROMETHEUS_DIR / "telltales-rules.test.yml"
ADAPTER_RULES = PROMETHEUS_DIR / "telltales-adapter-rules.yml"
ADAPTER_RULE_TESTS = PROMETHEUS_DIR / "telltales-adapter-rules.test.yml"
RULE_FILES = {RULES: RULE_TESTS, ADAPTER_RULES: ADAPTER_RULE_TESTS}  # rules → their promtool unit tests
REQUIRED_ALERTS = {
    "TelltalesWorkerDown", "TelltalesConsumerLagGrowing", "TelltalesDLQSpike", "TelltalesLogSourceSilent",
    "TelltalesEventToFindingLatencyHigh", "TelltalesDetectorErrors",
    "TelltalesAdapterDown", "TelltalesAdapterRejectsHigh", "TelltalesAdapterSourceSilent",
    "TelltalesAdapterDirectoryEmpty",
}
each_rules_file = pytest.mark.parametrize("rules_file", list(RULE_FILES), ids=lambda p: p.name)


def promtool() -> str:
    """Path of promtool, installing Debian's prometheus package first if it is missing."""
    if shutil.which("promtool") is None:
        subprocess.run(["bash", str(ROOT / "deploy" / "install-prometheus.sh")], check=True)
    path = shutil.which("promtool")
    assert path, "deploy/install-prometheus.sh ran but promtool is still not on PATH"
    return path


def rules() -> list[dict]:
    return [rule for path in RULE_FILES for group in yaml.safe_load(path.read_text("utf-8"))["groups"]
            for rule in group["rules"]]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120)


@each_rules_file
def test_promtool_check_rules(rules_file):
    result = run("check", "rules", rules_file.name)
    assert result.returncode == 0, result.stdout + result.stderr


@each_rules_file
def test_promtool_unit_tests_pass(rules_file):
    result = run("test", "rules", RULE_FILES[rules_file].name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_config_with_the_rules():
    result = run("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout + result.stderr


def test_prometheus_config_loads_both_rule_files_and_scrapes_each_job_the_rules_select():
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text("utf-8"))
    assert set(config["rule_files"]) == {path.name for path in RULE_FILES}
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    for rule in rules():
        for job in re.findall(r'job="([^"]+)"', rule["expr"]):
            assert job in jobs, f"{rule['alert']} selects job {job}, which prometheus.yml does not scrape"


# (rules file, text, its replacement, the alert whose unit test must then fail): a delay, threshold or filter off.
BREAKAGES = [
    (RULES, "for: 2m", "for: 0m", "TelltalesWorkerDown"),
    (ADAPTER_RULES, "< 0.5", "< 0.9", "TelltalesAdapterDown"),
    (ADAPTER_RULES, 'outcome=~"event|rejected"', 'outcome=~"event|rejected|skipped"', "TelltalesAdapterRejectsHigh"),
    (ADAPTER_RULES, "_seconds > 0", "_seconds >= 0", "TelltalesAdapterSourceSilent"),
    (ADAPTER_RULES, "employees) == 0", "employees) >= 0", "TelltalesAdapterDirectoryEmpty"),
]


@pytest.mark.parametrize(("rules_file", "old", "new", "alert"), BREAKAGES, ids=[b[-1] for b in BREAKAGES])
def test_unit_tests_catch_a_broken_rule(tmp_path, rules_file, old, new, alert):
    """The unit tests are not vacuous: changing a rule's threshold, filter or delay makes them fail."""
    text = rules_file.read_text("utf-8")
    assert text.count(old) == 1, old
    (tmp_path / rules_file.name).write_text(text.replace(old, new), "utf-8")
    shutil.copy(RULE_FILES[rules_file], tmp_path / RULE_FILES[rules_file].name)
    result = subprocess.run([promtool(), "test", "rules", RULE_FILES[rules_file].name], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert alert in result.stdout + result.stderr


def test_required_alerts_exist_and_each_is_unit_tested():
    names = {rule["alert"] for rule in rules()}
    assert REQUIRED_ALERTS <= names
    tested = {case["alertname"] for path in RULE_FILES.values()
              for test in yaml.safe_load(path.read_text("utf-8"))["tests"] for case in test.get("alert_rule_test", [])}
    assert names <= tested, f"alerts without a promtool test: {sorted(names - tested)}"


def test_every_alert_has_severity_summary_and_a_runbook_section_that_exists():
    operations = (ROOT / "deploy" / "OPERATIONS.md").read_text("utf-8")
    anchors = {re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
               for line in operations.splitlines() if line.startswith("#")}
    for rule in rules():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        runbook = rule["annotations"]["runbook"]
        assert runbook.startswith("deploy/OPERATIONS.md#"), rule["alert"]
        assert runbook.split("#", 1)[1] in anchors, f"{rule['alert']}: no section for {runbook}"


def test_rules_use_only_exported_metrics():
    exposition = Metrics.from_config(Config()).exposition() + AdapterMetrics("okta").exposition()
    exported = {line.split("{")[0].split(" ")[0] for line in exposition.decode().splitlines()
                if line and not line.startswith("#")}
    for rule in rules():
        for name in re.findall(r"\b(telltales_[a-z0-9_]+)", rule["expr"]):
            assert name in exported, f"{rule['alert']}: {name} is not a metric telltales exports"


def test_no_padding_makes_an_empty_query_look_alive():
    for rule in rules():
        assert "vector(" not in rule["expr"], rule["alert"]


def test_install_script_is_idempotent():
    promtool()  # installed by now
    result = subprocess.run(["bash", str(ROOT / "deploy" / "install-prometheus.sh")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""
