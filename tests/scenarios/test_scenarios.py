"""The hand-written acceptance scenarios are well-formed: they decode, their config parses, their expectations name real ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from telltales.schemas.config import parse
from telltales.schemas.decoder import Decoder
from telltales.schemas.events import Employee
from telltales.schemas.rejections import Rejection

import build_scenarios

HERE = Path(__file__).resolve().parent
NAMES = sorted(build_scenarios.SCENARIOS)
DETECTOR_IDS = {"impossible_travel", "home_mismatch", "anonymizer", "latency_physics", "remote_control", "ip_kvm",
                "locale_timezone", "work_hours", "device_identity", "shared_infrastructure", "baseline_anomaly"}


def test_checked_in_files_are_what_the_builder_writes():
    for path, text in build_scenarios.render().items():
        assert path.read_text("utf-8") == text, f"{path} is stale: run python tests/scenarios/build_scenarios.py"


@pytest.mark.parametrize("name", NAMES)
def test_scenario_decodes_and_its_expectations_name_real_employees(name):
    folder = HERE / name
    expected = json.loads((folder / "expected.json").read_text("utf-8"))
    config = parse((folder / expected["config"]).read_text("utf-8"))
    decoder = Decoder()
    employees, times = set(), []
    for number, line in enumerate((folder / expected["events"]).read_bytes().splitlines(), 1):
        event = decoder.decode(line)
        assert not isinstance(event, Rejection), (name, number, event)
        if isinstance(event, Employee):
            assert not times, "employee records come first"
            employees.add(event.employee_id)
        else:
            assert event.employee_id in employees
            times.append(event.ts)
            latency = getattr(event, "latency", None)
            if latency is not None:
                assert latency.vantage in config.vantage_points
    assert times == sorted(times)
    must, must_not = set(expected["must_flag"]), set(expected["must_not_flag"])
    assert must | must_not <= employees and not must & must_not and must | must_not
    assert set(expected["detectors"]) <= must
    assert all(set(ds) <= DETECTOR_IDS for ds in expected["detectors"].values())
    assert all(set(group) <= must for group in expected["same_group"])
    assert expected["source"] and expected["why"]
