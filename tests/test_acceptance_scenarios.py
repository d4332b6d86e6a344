"""The fixed acceptance cases from public reporting (tests/scenarios/*): replay each, check its expected outcome.

Written before tuning; each folder's expected.json says who must be flagged (a Create
finding), who must never be, which detectors must appear in a flagged employee's
evidence, and which employees' findings must share one laptop-farm group id.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from telltales.detectors.ocsf import group_of
from telltales.schemas.config import load
from telltales.streams.replay import replay

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
CASES = sorted(p.name for p in SCENARIOS.iterdir() if (p / "expected.json").is_file())


def findings_of(case: str) -> tuple[dict, list[dict]]:
    folder = SCENARIOS / case
    expected = json.loads((folder / "expected.json").read_text())
    out = io.BytesIO()
    replay([str(folder / expected["events"])], load(folder / expected["config"]), out, None)
    return expected, [json.loads(line) for line in out.getvalue().splitlines()]


def test_every_scenario_is_collected():
    assert {"amazon_keystroke", "laptop_farm", "astrill_slip", "traveller_nyc_london", "it_admin_teamviewer",
            "office_nat"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_scenario_outcome(case):
    expected, findings = findings_of(case)
    created = {f["actor"]["user"]["uid"] for f in findings if f["activity_id"] == 1}
    assert set(expected["must_flag"]) <= created, f"not flagged: {set(expected['must_flag']) - created}"
    assert not created & set(expected["must_not_flag"]), f"flagged but must not be: {created & set(expected['must_not_flag'])}"
    for employee_id, detectors in expected["detectors"].items():
        seen = {e["data"]["detector"] for f in findings if f["actor"]["user"]["uid"] == employee_id
                for e in f["evidences"]}
        assert set(detectors) <= seen, f"{employee_id}: missing {set(detectors) - seen}"
    for group in expected["same_group"]:
        ids = {group_of(f) for f in findings if f["actor"]["user"]["uid"] in group}
        assert len(ids) == 1 and None not in ids, f"{group}: group ids {ids}"
