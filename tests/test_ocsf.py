"""OCSF Detection Findings: every record validates with a third-party validator, which also rejects broken ones.

The validator is `ocsf-json-schema` (JSON Schema generated from the official OCSF schema
exports it bundles, offline) run by `jsonschema`. It is strict: unknown attributes,
wrong types, missing required attributes and out-of-enum ids all fail.
"""

from __future__ import annotations

import copy
import math
import uuid
from types import SimpleNamespace

import jsonschema
import orjson
import pytest
from msgspec.structs import replace
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from telltales.detectors import ocsf, registry
from telltales.detectors.base import Signal
from telltales.detectors.fusion import Active, Fusion, FusionState
from telltales.detectors.ocsf import FindingBuilder, encode_finding, finding_uid, group_of

T0 = 1_772_442_000.0  # 2026-03-02 09:00 UTC
HOUR = 3600.0
FARM = "public_ip:203.0.113.7"

# Stand-ins with the metadata a detector class carries (the builder reads only these attributes).
REMOTE_CONTROL = SimpleNamespace(id="remote_control", title="Remote-control software or inbound session",
                                 severity="high", attacks=("T1219.002", "T1133"), runbook="Ask who ran the session.",
                                 event_types=("remote_session",))
SHARED = SimpleNamespace(id="shared_infrastructure", title="Employees sharing one home network",
                         severity="high", attacks=("T1078",), runbook="List the employees in the group.",
                         event_types=("vpn_login",))


@pytest.fixture(scope="module")
def validator():
    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(ocsf.OCSF_VERSION)).get_class_schema(
        "detection_finding", list(ocsf.OCSF_PROFILES))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator, finding) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(finding)]


def fusion() -> Fusion:
    return Fusion(half_life_s=72 * HOUR, create_threshold=60.0, close_threshold=30.0, case_ttl_s=14 * 24 * HOUR,
                  weights={"ip_kvm": 0.55, "remote_control": 0.55, "shared_infrastructure": 0.6})


def builder(**kw) -> FindingBuilder:
    detectors = {**registry.discover(), "remote_control": REMOTE_CONTROL, "shared_infrastructure": SHARED}
    return FindingBuilder(detectors, fusion(), product_version="0.1.0", **kw)


def sig(detector: str, hours: float, employee: str = "e-7", score: float = 1.0, group: str | None = None,
        **data) -> Signal:
    return Signal(detector=detector, employee_id=employee, time=T0 + hours * HOUR, score=score,
                  summary=f"{detector} saw something at +{hours} h", data=data,
                  event_ids=(f"{employee}-ev-{detector}-{hours}",), group=group)


def lifecycle(employee: str = "e-7", group: str | None = FARM):
    """Create (KVM + remote control), update (a third detector joins), close (decay): real fusion records."""
    f, state = fusion(), FusionState()
    state, created = f.add(state, [sig("ip_kvm", 0, employee, device_id="lt-7", hostname="lt-7"),
                                   sig("remote_control", 0.5, employee, tool="anydesk", src_ip="175.45.176.3",
                                       home={"lat": 41.878113, "lon": -87.629799})], employee)
    state, updated = f.add(state, [sig("shared_infrastructure", 1, employee, group=group, public_ip="203.0.113.7",
                                       employees=3)], employee)
    state, closed = f.sweep(state, T0 + 10 * 24 * HOUR, employee)
    assert [c.activity for c in created + updated + closed] == ["create", "update", "close"]
    return created[0], updated[0], closed[0]


# The validator accepts what we build ---------------------------------------------------------

@pytest.mark.parametrize("index", [0, 1, 2], ids=["create", "update", "close"])
def test_every_lifecycle_record_validates(validator, index):
    change = lifecycle()[index]
    finding = builder().build(change, user_name="Jane Roe")
    assert errors(validator, finding) == []
    activity_id = {"create": 1, "update": 2, "close": 3}[change.activity]
    assert (finding["class_uid"], finding["category_uid"], finding["activity_id"]) == (2004, 2, activity_id)
    assert finding["type_uid"] == 2004 * 100 + activity_id  # the one invariant JSON Schema cannot express
    assert finding["time"] == round(change.time * 1000)
    assert finding["status_id"] == {"create": 1, "update": 2, "close": 4}[change.activity]
    assert finding["metadata"]["version"] == ocsf.OCSF_VERSION == "1.5.0"
    assert finding["metadata"]["product"] == {"name": "telltales", "vendor_name": "telltales", "version": "0.1.0"}


def test_a_finding_with_odd_evidence_data_validates(validator):
    change = lifecycle()[1]
    odd = {"nested": {"lists": [[1, 2], {"a": None}], "flag": True}, "ips": ["2001:db8::1", "not-an-ip"]}
    change = replace(change, evidence={**change.evidence, "unknown_detector": Active(0.3, 0.5, T0, "odd", odd)})
    finding = builder(location_decimals=0).build(change)
    assert errors(validator, finding) == []
    assert {"name": "evidences.data.observed.ips", "type_id": 2, "type": "IP Address",
            "value": "2001:db8::1"} in finding["observables"]
    assert not any(o["value"] == "not-an-ip" for o in finding["observables"])


# ... and rejects what is broken, with its own error ---------------------------------------------

def _drop(path):
    def mutate(d):
        *parents, last = path
        for p in parents:
            d = d[p]
        del d[last]
    return mutate


def _set(path, value):
    def mutate(d):
        *parents, last = path
        for p in parents:
            d = d[p]
        d[last] = value
    return mutate


BROKEN = [
    ("no class_uid", _drop(["class_uid"]), "'class_uid' is a required property"),
    ("time as text", _set(["time"], "2026-03-02T09:00:00Z"), "is not of type 'integer'"),
    ("no case uid", _drop(["finding_info", "uid"]), "'uid' is a required property"),
    ("unknown attribute", _set(["finding_info", "case_owner"], "x"), "Additional properties are not allowed"),
    ("activity out of enum", _set(["activity_id"], 7), "is not one of"),
    ("wrong class", _set(["class_uid"], 2003), "2004 was expected"),
    ("empty evidence", _set(["evidences", 0], {}), "is not valid under any of the given schemas"),
    ("risk score as float", _set(["risk_score"], 80.5), "is not of type 'integer'"),
    ("no product", _drop(["metadata", "product"]), "'product' is a required property"),
]


@pytest.mark.parametrize("mutate, message", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_the_validator_rejects_a_broken_finding(validator, mutate, message):
    finding = builder().build(lifecycle()[0])
    assert errors(validator, finding) == []
    broken = copy.deepcopy(finding)
    mutate(broken)
    found = errors(validator, broken)
    assert any(message in e for e in found), found
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


# Determinism and identifiers -------------------------------------------------------------------

def test_same_input_gives_the_same_bytes():
    first = [encode_finding(builder().build(c)) for c in lifecycle()]
    again = [encode_finding(builder().build(c)) for c in lifecycle()]
    assert first == again
    line = first[0]
    assert b"\n" not in line and orjson.loads(line)["class_uid"] == 2004
    assert line == orjson.dumps(orjson.loads(line), option=orjson.OPT_SORT_KEYS)  # keys sorted


def test_one_case_keeps_its_uid_and_every_record_gets_its_own():
    findings = [builder().build(c) for c in lifecycle()]
    case_uids = {f["finding_info"]["uid"] for f in findings}
    assert case_uids == {finding_uid("e-7", 1)}
    assert uuid.UUID(finding_uid("e-7", 1)).version == 5
    assert all(f["metadata"]["correlation_uid"] == f["finding_info"]["uid"] for f in findings)
    assert len({f["metadata"]["uid"] for f in findings}) == 3
    assert findings[0]["finding_info"]["uid_alt"] == "e-7#1"


def test_case_uid_differs_by_employee_and_case_number():
    assert len({finding_uid("e-7", 1), finding_uid("e-7", 2), finding_uid("e-8", 1), finding_uid("e-7:1", 2)}) == 4
    other = builder().build(lifecycle("e-8")[0])
    assert other["finding_info"]["uid"] == finding_uid("e-8", 1) != finding_uid("e-7", 1)


# Content an analyst and the eval tool rely on ----------------------------------------------------

def test_evidence_carries_detector_weight_contribution_and_observed_values():
    finding = builder().build(lifecycle()[1])
    data = [e["data"] for e in finding["evidences"]]
    assert {d["detector"] for d in data} == {"ip_kvm", "remote_control", "shared_infrastructure"}
    assert [d["contribution"] for d in data] == sorted((d["contribution"] for d in data), reverse=True)
    kvm = next(d for d in data if d["detector"] == "ip_kvm")
    assert kvm["weight"] == 0.55 and 0.5 < kvm["contribution"] <= 0.55 and kvm["summary"].startswith("ip_kvm saw")
    assert kvm["observed"] == {"device_id": "lt-7", "hostname": "lt-7"}
    assert kvm["title"] == "IP-KVM hardware attached to the device"  # from the registry's metadata
    # The contributions recombine (noisy-OR) into the reported risk.
    risk = 100 * (1 - math.prod(1 - d["contribution"] for d in data))
    assert abs(risk - finding["risk_score"]) <= 1
    assert {r["uid"] for r in finding["finding_info"]["related_events"]} >= {
        "e-7-ev-ip_kvm-0", "e-7-ev-remote_control-0.5", "e-7-ev-shared_infrastructure-1"}


def test_the_employee_is_the_actor_of_the_finding_and_of_every_evidence():
    finding = builder().build(lifecycle()[0], user_name="Jane Roe")
    assert finding["actor"]["user"]["uid"] == "e-7" and finding["actor"]["user"]["name"] == "Jane Roe"
    assert all(e["actor"]["user"]["uid"] == "e-7" for e in finding["evidences"])
    assert {"name": "actor.user.uid", "type_id": 31, "value": "e-7"} in finding["observables"]
    assert "Jane Roe" not in str(builder().build(lifecycle()[0]))


def test_employees_of_one_farm_share_a_group_id():
    a = builder().build(lifecycle("e-7")[1])
    b = builder().build(lifecycle("e-9")[1])
    loner = builder().build(lifecycle("e-5", group=None)[1])
    assert group_of(a) == group_of(b) == FARM
    assert group_of(loner) is None and "groups" not in loner["actor"]["user"]
    assert {"name": "actor.user.groups.uid", "type_id": 33, "value": FARM} in a["observables"]
    assert "Laptop Farm" in a["finding_info"]["types"] and "Laptop Farm" not in loner["finding_info"]["types"]
    assert FARM in a["finding_info"]["desc"]


def test_attacks_use_attack_v17_names_and_tactics():
    finding = builder().build(lifecycle()[1])
    attacks = finding["finding_info"]["attacks"]
    assert all(a["version"] == ocsf.ATTACK_VERSION for a in attacks)
    assert int(ocsf.ATTACK_VERSION.split(".")[0]) >= 17
    hardware = next(a for a in attacks if a.get("sub_technique", {}).get("uid") == "T1219.003")
    assert hardware["sub_technique"]["name"] == "Remote Access Hardware"
    assert hardware["technique"] == {"uid": "T1219", "name": "Remote Access Tools"}
    assert hardware["tactic"] == {"uid": "TA0011", "name": "Command and Control"}
    external = [a["tactic"]["name"] for a in attacks if a["technique"]["uid"] == "T1133"]
    assert sorted(external) == ["Initial Access", "Persistence"]
    assert {"T1200", "T1078"} <= {a["technique"]["uid"] for a in attacks}


def test_risk_maps_to_levels_with_the_fusion_thresholds():
    create, update, close = (builder().build(c) for c in lifecycle())
    assert (create["risk_level"], create["severity"]) == ("High", "High")  # ~80: 75 ≤ risk < 90
    assert update["risk_score"] >= 90 and (update["risk_level_id"], update["severity_id"]) == (4, 5)
    assert close["risk_score"] < 30 and (close["risk_level"], close["severity"]) == ("Info", "Informational")
    assert create["is_alert"] and not close["is_alert"]
    assert close["status"] == "Resolved" and close["status_detail"] == "risk decayed below the close threshold"
    assert 0 <= create["confidence_score"] <= 100 and create["confidence"] == "High"


def test_readable_title_and_description():
    finding = builder().build(lifecycle()[0], user_name="Jane Roe")
    info = finding["finding_info"]
    assert info["title"].startswith("e-7: ") and "(+1 more)" in info["title"]
    assert "risk 80/100 (High)" in info["desc"] and "Top reasons: 1)" in info["desc"]
    assert "IP-KVM hardware attached to the device" in info["desc"]
    # Runbooks of the contributing detectors, strongest first.
    assert finding["remediation"]["desc"].startswith("remote_control: Ask who ran the session. ip_kvm: Ask the device")


def test_location_decimals_coarsens_only_coordinates():
    change = lifecycle()[0]
    precise = builder().build(change)
    coarse = builder(location_decimals=1).build(change)
    observed = lambda f: next(e["data"]["observed"] for e in f["evidences"] if e["name"] == "remote_control")
    assert observed(precise)["home"] == {"lat": 41.878113, "lon": -87.629799}
    assert observed(coarse)["home"] == {"lat": 41.9, "lon": -87.6}
    assert observed(coarse)["src_ip"] == "175.45.176.3"
    assert ocsf._plain({"vp_lat": 1.23456, "coords": [1.26, 2.24], "rtt_ms": [1.26, 2.24]}, 1) == {
        "vp_lat": 1.2, "coords": [1.3, 2.2], "rtt_ms": [1.26, 2.24]}


def test_the_finding_shares_nothing_mutable_with_fusion_state():
    change = lifecycle()[1]
    finding = builder().build(change)
    finding["evidences"][0]["data"]["observed"]["injected"] = True
    finding["actor"]["user"]["uid"] = "someone else"
    assert all("injected" not in a.data for a in change.evidence.values())
    assert builder().build(change) == builder().build(lifecycle()[1])


def test_unknown_detectors_and_techniques_degrade_gracefully(validator):
    odd = SimpleNamespace(id="remote_control", title="RC", severity="low", attacks=("T9999", "T1219.003"),
                          runbook="", event_types=())
    b = FindingBuilder([odd], fusion(), product_version="9.9.9")
    finding = b.build(lifecycle()[1])  # ip_kvm and shared_infrastructure are unknown to this builder
    assert errors(validator, finding) == []
    assert {"version": ocsf.ATTACK_VERSION, "technique": {"uid": "T9999"}} in finding["finding_info"]["attacks"]
    titles = {a["uid"]: a["name"] for a in finding["finding_info"]["related_analytics"]}
    assert titles["ip_kvm"] == "ip_kvm" and titles["remote_control"] == "RC"
    assert finding["metadata"]["product"]["version"] == "9.9.9"


def test_a_place_agreement_is_explained_in_the_finding_and_validates(validator):
    f = Fusion(half_life_s=72 * HOUR, create_threshold=50.0, close_threshold=25.0, case_ttl_s=14 * 24 * HOUR,
               weights={"locale_timezone": 0.3, "work_hours": 0.3}, place_weight=0.45)
    _, [created] = f.add(FusionState(), [
        sig("locale_timezone", 0, score=1.0, places=[["device_clock", 9.0, 0.5], ["input_language", 9.0, 0.5]]),
        sig("work_hours", 1, score=0.5, places=[["activity_hours", 10.4, 2.0]])], "e-7")
    finding = FindingBuilder(registry.discover(), f, product_version="0.1.0").build(created)
    assert errors(validator, finding) == []
    [agreement] = [e for e in finding["evidences"] if e["name"] == "place_agreement"]
    assert agreement["data"]["title"] == "Independent tells agree on one foreign place"
    assert agreement["data"]["observed"] == {"utc_offset_h": 9.0,
                                             "tells": ["device_clock", "input_language", "activity_hours"],
                                             "detectors": ["locale_timezone", "work_hours"], "chance": 0.017}
    assert "3 independent tells agree on one place, UTC+9" in finding["finding_info"]["desc"]
    assert finding["remediation"]["desc"].count("place_agreement: ") == 1
