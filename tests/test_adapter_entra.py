"""The Microsoft Entra ID adapter: both record shapes, outcomes and interrupts, non-user sign-ins, places, and `telltales adapt`.

Records are built in the shapes Microsoft documents: `sign_in` is a Graph `signIn`
resource, `monitored` wraps one in the Azure Monitor diagnostic-settings envelope (the
values are made up: documentation addresses, example.com users). `changed` (shared with
the Okta tests) sets or removes one field by its dotted path, so each test shows only
what it is about. Most tests run on both shapes: `SHAPES` builds the same sign-in either way.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import msgspec
import pytest

from telltales.detectors.anonymizer import anonymity
from telltales.detectors.enrich import Enricher
from telltales.schemas import adapters
from telltales.schemas.adapters import Identities, Translator, entra
from telltales.schemas.dlq import DlqEnvelope
from telltales.schemas.events import VpnLogin
from telltales.schemas.rejections import Rejection
from telltales.streams import cli

from builders import decode, employee
from test_adapter_okta import DELETE, RAW_UA, changed

ID = "7a3c1f52-9b4e-4d2a-8c61-0e5f2b9d4c00"
WHEN = "2026-03-02T09:00:00.1234567+00:00"  # Entra writes seven fractional digits
DEVICE = "4b2e8c91-6f3a-4e7d-a5b0-1c9d8e7f6a52"
PHONE = "9f1d3b7a-2c4e-4a6b-8d0f-3e5a7c9b1d24"


def sign_in(*, id: str = ID, upn: str = "ana.kim@example.com", when: str = WHEN, code: int = 0,
            **fields: Any) -> dict[str, Any]:
    """One Graph signIn (beta): Ana Kim opens Office 365 in Safari from Chicago, password only."""
    return {
        "id": id, "createdDateTime": when, "userDisplayName": "Ana Kim", "userPrincipalName": upn,
        "userId": "2d5f7a9c-1b3e-4c6d-8e0f-a1b2c3d4e5f6", "userType": "member",
        "appId": "4765445b-32c6-49b0-83e6-1d93765276ca", "appDisplayName": "OfficeHome",
        "ipAddress": "198.51.100.23", "clientAppUsed": "Browser", "userAgent": RAW_UA,
        "correlationId": "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f", "conditionalAccessStatus": "notApplied",
        "isInteractive": True, "signInEventTypes": ["interactiveUser"], "autonomousSystemNumber": 7922,
        "riskDetail": "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": "none", "riskState": "none",
        "riskEventTypes_v2": [], "resourceDisplayName": "Office 365 Exchange Online",
        "status": {"errorCode": code, "failureReason": "Other." if code == 0 else "Invalid username or password.",
                   "additionalDetails": None},
        "deviceDetail": {"deviceId": "", "displayName": "", "operatingSystem": "MacOs", "browser": "Safari 17.4",
                         "isCompliant": False, "isManaged": False, "trustType": ""},
        "location": {"city": "Chicago", "state": "Illinois", "countryOrRegion": "US",
                     "geoCoordinates": {"altitude": None, "latitude": 41.8858, "longitude": -87.6181}},
        "authenticationDetails": [{"authenticationStepDateTime": when, "authenticationMethod": "Password",
                                   "authenticationMethodDetail": "Password in the cloud", "succeeded": code == 0,
                                   "authenticationStepResultDetail": "Correct password",
                                   "authenticationStepRequirement": "Primary authentication"}],
        **fields,
    }


def mfa_sign_in(method: str = "Mobile app notification", code: int = 0, **fields: Any) -> dict[str, Any]:
    """The same sign-in with a second factor, approved (or not) in Microsoft Authenticator on a phone."""
    record = sign_in(code=code, **fields)
    record["authenticationDetails"].append({
        "authenticationStepDateTime": record["createdDateTime"], "authenticationMethod": method,
        "authenticationMethodDetail": "iPhone 15", "succeeded": code == 0,
        "authenticationStepResultDetail": "MFA successfully completed" if code == 0 else "MFA denied; user declined",
        "authenticationStepRequirement": "Multifactor authentication"})
    record["authenticationAppDeviceDetails"] = {"deviceId": PHONE, "clientApp": "Microsoft Authenticator",
                                                "operatingSystem": "iOS", "appVersion": "6.8.7"}
    return record


def monitored(record: dict[str, Any], category: str = "SignInLogs") -> dict[str, Any]:
    """`record` as Azure Monitor diagnostic settings export it (Event Hub, storage account)."""
    code = record.get("status", {}).get("errorCode", 0)
    return {
        "time": "2026-03-02T09:00:00.1234567Z", "resourceId": "/tenants/00000000-0000-4000-8000-0000000000aa/"
                                                              "providers/Microsoft.aadiam",
        "operationName": "Sign-in activity", "operationVersion": "1.0", "category": category,
        "tenantId": "00000000-0000-4000-8000-0000000000aa", "resultType": str(code), "resultSignature": "None",
        "resultDescription": record.get("status", {}).get("failureReason"), "durationMs": 0,
        "callerIpAddress": record.get("ipAddress"), "correlationId": record.get("correlationId"),
        "identity": "Ana Kim", "Level": 4, "location": "US", "properties": record,
    }


SHAPES = {"graph": lambda record: record, "azure_monitor": monitored}
PREFIX = {"graph": "", "azure_monitor": "properties."}


def directory() -> Identities:
    ids = Identities()
    ids.add(employee("emp-1", aliases=["Ana.Kim@example.com"]))
    ids.add(employee("emp-2", aliases=["bo.lee@example.com"]))
    return ids


def translate(record: dict[str, Any]) -> list[VpnLogin] | str | Rejection:
    return Translator(entra.ADAPTER, directory()).translate(json.dumps(record).encode())


def the_login(record: dict[str, Any]) -> VpnLogin:
    result = translate(record)
    assert isinstance(result, list) and len(result) == 1, result
    return result[0]


CHICAGO_LOGIN = {
    "event_type": "vpn_login", "employee_id": "emp-1", "event_id": f"entra:{ID}:0", "source": "entra",
    "ts": "2026-03-02T09:00:00.123457Z", "src_ip": "198.51.100.23", "outcome": "success",
    "geo": {"country": "US", "region": "Illinois", "city": "Chicago", "lat": 41.8858, "lon": -87.6181},
    "client": {"os": "MacOs", "user_agent": RAW_UA},
}


# --- both shapes, field by field --------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_a_successful_sign_in_maps_every_field_in_either_shape(shape):
    assert the_login(SHAPES[shape](sign_in())) == decode(CHICAGO_LOGIN)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_wrong_password_maps_every_field_as_a_failure(shape):
    login = the_login(SHAPES[shape](sign_in(code=50126)))
    assert login == decode({**CHICAGO_LOGIN, "outcome": "failure", "event_id": f"entra:{ID}:50126"})


@pytest.mark.parametrize("shape", SHAPES)
def test_an_mfa_sign_in_names_the_factor_and_the_phone_that_approved_it(shape):
    login = the_login(SHAPES[shape](mfa_sign_in()))
    assert login == decode({**CHICAGO_LOGIN, "mfa": {"method": "Mobile app notification", "device_id": PHONE}})


def test_a_refused_mfa_is_a_failed_login_naming_the_factor():
    login = the_login(monitored(mfa_sign_in(code=500121)))
    assert (login.outcome, login.mfa.method, login.event_id) == ("failure", "Mobile app notification",
                                                                 f"entra:{ID}:500121")


def test_a_password_or_a_claim_in_the_token_is_no_factor():
    record = sign_in(authenticationDetails=[
        {"authenticationMethod": "Previously satisfied", "succeeded": True},
        {"authenticationMethod": "Password", "succeeded": True},
        {"authenticationMethod": "Satisfied by token", "succeeded": True}])
    assert the_login(record).mfa is None
    passkey = sign_in(authenticationDetails=[{"authenticationMethod": "Passkey (device-bound)", "succeeded": True},
                                             {"authenticationMethod": "Previously satisfied", "succeeded": True}])
    assert the_login(passkey).mfa.method == "Passkey (device-bound)"


def test_a_registered_device_id_is_mapped_and_an_empty_one_is_not():
    record = changed(sign_in(), {"deviceDetail.deviceId": DEVICE, "deviceDetail.trustType": "Azure AD joined"})
    assert the_login(record).device_id == DEVICE
    assert the_login(sign_in()).device_id is None


def test_the_envelope_copies_are_used_when_the_properties_lack_them():
    """Azure Monitor repeats the time and the status code on its envelope (`time`, `resultType` as text)."""
    record = monitored(sign_in(code=50126))
    record["properties"] = changed(record["properties"], {"createdDateTime": DELETE, "status": DELETE})
    login = the_login(record)
    assert (login.outcome, login.event_id, login.ts) == ("failure", f"entra:{ID}:50126",
                                                         decode(CHICAGO_LOGIN).ts)


# --- interrupts and outcomes ------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("code, reason", [
    (50074, "errorCode 50074 UserStrongAuthClientAuthNRequiredInterrupt is not a finished sign-in: "
            "MFA is required, the MFA step's record has the result"),
    (50076, "errorCode 50076 UserStrongAuthClientAuthNRequired is not a finished sign-in: "
            "MFA is required, the MFA step's record has the result"),
    (50140, "errorCode 50140 KmsiInterrupt is not a finished sign-in: the 'Stay signed in?' prompt"),
    (50058, "errorCode 50058 UserInformationNotProvided is not a finished sign-in: "
            "a silent sign-in found no session, no credentials were given"),
])
def test_interrupted_sign_ins_are_skipped_naming_the_code(shape, code, reason):
    assert translate(SHAPES[shape](sign_in(code=code))) == reason


@pytest.mark.parametrize("code", sorted(entra.INTERRUPTS))
def test_every_interrupt_is_skipped_before_its_user_is_looked_up(code):
    """A user who has not signed in yet may be logged by object id: an interrupt is no rejection."""
    name, why = entra.INTERRUPTS[code]
    assert translate(sign_in(code=code, upn="2d5f7a9c-1b3e-4c6d-8e0f-a1b2c3d4e5f6")) == \
        f"errorCode {code} {name} is not a finished sign-in: {why}"


@pytest.mark.parametrize("code", [50126, 50053, 53003, 500121, 50057])
def test_other_codes_are_failures(code):
    assert the_login(sign_in(code=code)).outcome == "failure"


@pytest.mark.parametrize("status, path, shown", [
    ({"errorCode": "OK"}, "status.errorCode", "'OK'"),
    ({"errorCode": True}, "status.errorCode", "True"),
    ({"errorCode": -1}, "status.errorCode", "-1"),
    (None, "status.errorCode", "missing"),
])
def test_a_status_code_that_is_no_number_is_rejected(status, path, shown):
    assert translate(changed(sign_in(), {"status": status})) == Rejection(
        "adapter_error", path, f"`{path}` is {shown}; expected Entra's numeric status code (0 = success)")


def test_an_azure_monitor_record_without_any_status_names_the_envelope_field():
    record = monitored(sign_in())
    record["properties"] = changed(record["properties"], {"status": DELETE})
    record["resultType"] = "None"
    assert translate(record) == Rejection(
        "adapter_error", "resultType", "`resultType` is 'None'; expected Entra's numeric status code (0 = success)")


# --- what is skipped --------------------------------------------------------------------------

@pytest.mark.parametrize("category, reason", [
    ("NonInteractiveUserSignInLogs",
     "nonInteractiveUser sign-in: a client renewed the user's token, the user did not sign in"),
    ("ServicePrincipalSignInLogs", "servicePrincipal sign-in: an application signed in, not a user"),
    ("ManagedIdentitySignInLogs", "managedIdentity sign-in: an Azure resource signed in, not a user"),
    ("AuditLogs", "category AuditLogs is not a user sign-in log telltales reads"),
    ("ADFSSignInLogs", "category ADFSSignInLogs is not a user sign-in log telltales reads"),
])
def test_other_azure_monitor_categories_are_skipped(category, reason):
    assert translate(monitored(sign_in(), category)) == reason


@pytest.mark.parametrize("fields, reason", [
    ({"signInEventTypes": ["nonInteractiveUser"], "isInteractive": False},
     "nonInteractiveUser sign-in: a client renewed the user's token, the user did not sign in"),
    ({"isInteractive": False, "signInEventTypes": DELETE},  # v1.0 has no signInEventTypes
     "nonInteractiveUser sign-in: a client renewed the user's token, the user did not sign in"),
    ({"signInEventTypes": ["servicePrincipal"], "userPrincipalName": DELETE, "isInteractive": False},
     "servicePrincipal sign-in: an application signed in, not a user"),
    ({"signInEventTypes": ["managedIdentity"], "userPrincipalName": DELETE, "ipAddress": ""},
     "managedIdentity sign-in: an Azure resource signed in, not a user"),
])
def test_graph_sign_ins_of_no_user_or_no_interaction_are_skipped(fields, reason):
    assert translate(changed(sign_in(), fields)) == reason


def test_a_non_interactive_record_in_the_interactive_category_is_skipped_too():
    record = monitored(sign_in())
    record["properties"]["isInteractive"] = False
    assert translate(record).startswith("nonInteractiveUser sign-in:")


# --- what is rejected -------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_an_unknown_user_is_rejected_as_unknown_identity(shape):
    path = f"{PREFIX[shape]}userPrincipalName"
    assert translate(SHAPES[shape](sign_in(upn="mallory@example.net"))) == Rejection(
        "unknown_identity", path, f"`{path}` is 'mallory@example.net': no employee record lists it as its id or an alias")


def test_a_user_sign_in_without_a_user_principal_name_is_rejected():
    assert translate(changed(sign_in(), {"userPrincipalName": DELETE})) == Rejection(
        "unknown_identity", "userPrincipalName", "`userPrincipalName` is missing: the record names no user")


@pytest.mark.parametrize("shape", SHAPES)
def test_a_sign_in_without_an_address_is_rejected(shape):
    path = f"{PREFIX[shape]}ipAddress"
    assert translate(SHAPES[shape](changed(sign_in(), {"ipAddress": DELETE}))) == Rejection(
        "adapter_error", path, f"`{path}` is missing: the sign-in does not say where it came from")
    assert translate(SHAPES[shape](sign_in(ipAddress=""))).path == path


def test_a_sign_in_without_a_time_is_rejected():
    assert translate(changed(sign_in(), {"createdDateTime": DELETE})) == Rejection(
        "adapter_error", "createdDateTime", "`createdDateTime` is missing: the sign-in does not say when it happened")


def test_an_address_the_contract_refuses_is_rejected_at_src_ip():
    result = translate(sign_in(ipAddress="198.51.100.300"))
    assert (result.code, result.path) == ("bad_format", "src_ip")


@pytest.mark.parametrize("record, path, message", [
    ({"category": None, "properties": {}}, "category",
     "`category` is missing: not an Azure Monitor Entra ID log record"),
    ({"category": "SignInLogs", "properties": "{}"}, "properties", "`properties` is '{}'; expected an object"),
    ({"@odata.context": "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns", "value": [{}, {}, {}]},
     "value", "`value` holds a Graph API page of 3 records: give the adapter one record per line "
              "(e.g. jq -c '.value[]')"),
    ({"records": [{}]}, "records", "`records` holds an Event Hub message of 1 records: give the adapter one "
                                   "record per line (e.g. jq -c '.records[]')"),
])
def test_records_of_neither_shape_are_rejected_saying_what_they_are(record, path, message):
    assert translate(record) == Rejection("adapter_error", path, message)


@pytest.mark.parametrize("fields, path, message", [
    ({"isInteractive": "true"}, "isInteractive", "`isInteractive` is 'true'; expected true or false"),
    ({"signInEventTypes": "interactiveUser"}, "signInEventTypes",
     "`signInEventTypes` is 'interactiveUser'; expected a list"),
    ({"location": "Chicago"}, "location", "`location` is 'Chicago'; expected an object"),
    ({"authenticationDetails": [{"authenticationMethod": "Password"}, "SMS"]}, "authenticationDetails[1]",
     "`authenticationDetails[1]` is 'SMS'; expected an object"),
])
def test_a_malformed_field_is_rejected_with_its_path(fields, path, message):
    assert translate(sign_in(**fields)) == Rejection("adapter_error", path, message)


# --- places -----------------------------------------------------------------------------------

@pytest.mark.parametrize("country", ["", "ZZ", "USA", None])
def test_a_country_that_is_no_iso_code_leaves_geo_to_geoip(country):
    login = the_login(changed(sign_in(), {"location.countryOrRegion": country}))
    assert login.geo is None
    geoip = {"198.51.100.23": {"country": {"iso_code": "US"}, "city": {"names": {"en": "Chicago"}},
                               "location": {"latitude": 41.9, "longitude": -87.6, "accuracy_radius": 20}}}
    assert Enricher(city=geoip)(login).geo == decode(
        {**CHICAGO_LOGIN, "geo": {"country": "US", "city": "Chicago", "lat": 41.9, "lon": -87.6, "accuracy_km": 20}}).geo


def test_a_place_located_to_the_country_only_keeps_no_coordinates():
    record = sign_in(location={"city": "", "state": "", "countryOrRegion": "kp",
                               "geoCoordinates": {"latitude": 40.0, "longitude": 127.0}})
    assert the_login(record).geo == decode({**CHICAGO_LOGIN, "geo": {"country": "KP"}}).geo


# --- anonymizers ------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["riskEventTypes_v2", "riskEventTypes"])
def test_an_address_identity_protection_calls_anonymous_is_an_anonymizer(field):
    login = the_login(sign_in(**{field: ["unfamiliarFeatures", "anonymizedIPAddress"]}))
    assert login.anonymizer == decode({**CHICAGO_LOGIN, "anonymizer": {"type": "vpn"}}).anonymizer
    assert anonymity(login) == ("vpn", "")


def test_other_risk_events_and_the_autonomous_system_number_are_left_to_the_detectors():
    login = the_login(sign_in(riskEventTypes_v2=["unlikelyTravel", "maliciousIPAddress"],
                              autonomousSystemNumber=14061))
    assert (login.anonymizer, login.asn) == (None, None)


# --- ids --------------------------------------------------------------------------------------

def test_the_same_record_gets_the_same_event_id_every_time_and_each_status_its_own():
    record = monitored(sign_in())
    assert the_login(record).event_id == the_login(copy.deepcopy(record)).event_id == f"entra:{ID}:0"
    assert the_login(monitored(mfa_sign_in(code=500121))).event_id == f"entra:{ID}:500121"


def test_a_record_without_an_id_gets_the_decoders_stable_id():
    record = changed(sign_in(), {"id": DELETE})
    first, again = the_login(record).event_id, the_login(record).event_id
    assert first == again and len(first) == 32
    assert the_login(changed(record, {"createdDateTime": "2026-03-02T09:00:01Z"})).event_id != first


def test_the_adapter_is_registered():
    assert adapters.load("entra") is entra.ADAPTER
    assert list(adapters.ADAPTERS) == sorted(adapters.ADAPTERS)
    assert (entra.ADAPTER.name, entra.ADAPTER.title) == ("entra", "Microsoft Entra ID sign-in logs")


# --- telltales adapt --------------------------------------------------------------------------

def test_adapt_writes_the_sign_ins_skips_the_rest_sends_rejects_to_the_dlq_and_replay_accepts_it(tmp_path, capsys):
    people = tmp_path / "employees.jsonl"
    people.write_bytes(b"\n".join(msgspec.json.encode(e) for e in (
        employee("emp-1", aliases=["ana.kim@example.com"]), employee("emp-2", aliases=["bo.lee@example.com"]))) + b"\n")

    def uid(n: int) -> str:
        return f"00000000-0000-4000-8000-{n:012d}"

    lines = [
        sign_in(id=uid(1)),                                                            # 1 graph, success
        monitored(sign_in(id=uid(2), code=50074)),                                     # 2 interrupt: skipped
        monitored(mfa_sign_in(id=uid(2), when="2026-03-02T09:00:20.5Z")),              # 3 its MFA step: success
        sign_in(id=uid(4), upn="mallory@example.net"),                                 # 4 unknown user
        monitored(sign_in(id=uid(5)), "NonInteractiveUserSignInLogs"),                 # 5 skipped
        monitored(changed(sign_in(id=uid(6)), {"ipAddress": DELETE})),                 # 6 no address
        changed(sign_in(id=uid(7), upn="bo.lee@example.com", code=50126, when="2026-03-02T10:15:00Z"),
                {"location.countryOrRegion": ""}),                                     # 7 failure, geo left out
        monitored(sign_in(id=uid(8)), "ServicePrincipalSignInLogs"),                   # 8 skipped
    ]
    export = tmp_path / "entra.jsonl"
    export.write_bytes(b"\n".join([*(json.dumps(x).encode() for x in lines[:7]), b'{"category": "SignInL',
                                   *(json.dumps(x).encode() for x in lines[7:])]) + b"\n")
    out, dead = tmp_path / "events.jsonl", tmp_path / "dlq.jsonl"

    assert cli.main(["adapt", "--from", "entra", "--directory", str(people), "--out", str(out), "--dlq", str(dead),
                     str(export)]) == 0

    events = [json.loads(x) for x in out.read_bytes().splitlines()]
    assert [(e["event_id"], e["employee_id"], e["ts"], e.get("outcome", "success"), "mfa" in e, "geo" in e) for e in events] == [
        (f"entra:{uid(1)}:0", "emp-1", "2026-03-02T09:00:00.123457Z", "success", False, True),
        (f"entra:{uid(2)}:0", "emp-1", "2026-03-02T09:00:20.500000Z", "success", True, True),
        (f"entra:{uid(7)}:50126", "emp-2", "2026-03-02T10:15:00Z", "failure", False, False)]
    envelopes = [msgspec.json.decode(x, type=DlqEnvelope) for x in dead.read_bytes().splitlines()]
    assert [(e.stage, e.adapter, e.code, e.path, e.source) for e in envelopes] == [
        ("adapter", "entra", "unknown_identity", "userPrincipalName", {"file": str(export), "line": 4}),
        ("adapter", "entra", "adapter_error", "properties.ipAddress", {"file": str(export), "line": 6}),
        ("adapter", "entra", "bad_json", "", {"file": str(export), "line": 8})]
    originals = [json.loads(base64.b64decode(e.original_b64)) for e in envelopes[:2]]
    assert [originals[0]["id"], originals[1]["properties"]["id"]] == [uid(4), uid(6)]
    assert base64.b64decode(envelopes[2].original_b64) == b'{"category": "SignInL'
    assert capsys.readouterr().err.splitlines() == [
        "adapt (entra): 9 records; 3 events written; 3 skipped; 3 rejected",
        "  skipped: errorCode 50074 UserStrongAuthClientAuthNRequiredInterrupt is not a finished sign-in: "
        "MFA is required, the MFA step's record has the result (1); nonInteractiveUser sign-in: a client renewed "
        "the user's token, the user did not sign in (1); servicePrincipal sign-in: an application signed in, "
        "not a user (1)",
        "  rejected: adapter_error 1, bad_json 1, unknown_identity 1"]

    assert cli.main(["replay", "--strict", "--alerts", str(tmp_path / "alerts.jsonl"), str(people), str(out)]) == 0
    assert "5 accepted, 0 rejected" in capsys.readouterr().err
