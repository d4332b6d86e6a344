"""The Okta System Log adapter: each sign-in type, outcomes, identities, places, proxies, and `telltales adapt` end to end.

Records are built by `sign_in` in the shape Okta documents for a LogEvent (the values
are made up: documentation addresses, example.com users); `changed` sets or removes
one field by its dotted path, so each test shows only what it is about.
"""

from __future__ import annotations

import base64
import copy
import doctest
import json
from typing import Any

import msgspec
import pytest

from telltales.detectors.anonymizer import anonymity
from telltales.detectors.enrich import Enricher
from telltales.schemas import adapters
from telltales.schemas.adapters import Identities, Translator, okta
from telltales.schemas.dlq import DlqEnvelope
from telltales.schemas.events import VpnLogin
from telltales.schemas.rejections import Rejection
from telltales.streams import cli

from builders import decode, employee

UUID = "5f2b9e1c-7a43-4d0e-9b6f-0c1d2e3f4a5b"
RAW_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
DELETE = object()  # `changed` value that removes the field


def sign_in(event_type: str = "user.session.start", *, uuid: str = UUID, login: str = "Ana.Kim@example.com",
            published: str = "2026-03-02T09:00:00.000Z", result: str = "SUCCESS") -> dict[str, Any]:
    """One System Log event of a user signing in from Chicago through Comcast."""
    return {
        "uuid": uuid, "published": published, "eventType": event_type, "version": "0", "severity": "INFO",
        "displayMessage": "User login to Okta",
        "actor": {"id": "00u1ab2cd3EF4gh5ij6k", "type": "User", "alternateId": login, "displayName": "Ana Kim"},
        "client": {
            "userAgent": {"rawUserAgent": RAW_UA, "os": "Mac OS X", "browser": "SAFARI"},
            "zone": "null", "device": "Computer", "id": None, "ipAddress": "198.51.100.23",
            "geographicalContext": {"city": "Chicago", "state": "Illinois", "country": "United States",
                                    "postalCode": "60601", "geolocation": {"lat": 41.8858, "lon": -87.6181}},
        },
        "outcome": {"result": result, "reason": None},
        "securityContext": {"asNumber": 7922, "asOrg": "comcast", "isp": "comcast cable",
                            "domain": "comcast.net", "isProxy": False},
        "authenticationContext": {"authenticationProvider": "OKTA_AUTHENTICATION_PROVIDER",
                                  "credentialType": "PASSWORD", "externalSessionId": "102aBcDeFgHiJkLmNoPqRsT"},
        "transaction": {"type": "WEB", "id": "Zk3xQ1aBcDeFgHiJkLmNoQAAAA0", "detail": {}},
        "debugContext": {"debugData": {"requestUri": "/idp/idx/identify"}},
        "target": [],
    }


def mfa_sign_in(factor: str = "OKTA_VERIFY_PUSH", **fields: Any) -> dict[str, Any]:
    return changed(sign_in("user.authentication.auth_via_mfa", **fields), {
        "authenticationContext.credentialType": "OTP", "debugContext.debugData.factor": factor,
        "displayMessage": "Authentication of user via MFA"})


def changed(record: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A copy of `record` with each dotted path set to its value (DELETE removes it)."""
    record = copy.deepcopy(record)
    for path, value in fields.items():
        *parents, last = path.split(".")
        node = record
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return record


def directory() -> Identities:
    ids = Identities()
    ids.add(employee("emp-1", aliases=["ana.kim@example.com"]))
    ids.add(employee("emp-2", aliases=["bo.lee@example.com"]))
    return ids


def translate(record: dict[str, Any]) -> list[VpnLogin] | str | Rejection:
    return Translator(okta.ADAPTER, directory()).translate(json.dumps(record).encode())


def the_login(record: dict[str, Any]) -> VpnLogin:
    result = translate(record)
    assert isinstance(result, list) and len(result) == 1, result
    return result[0]


CHICAGO_LOGIN = {
    "event_type": "vpn_login", "employee_id": "emp-1", "event_id": f"okta:{UUID}", "source": "okta",
    "ts": "2026-03-02T09:00:00.000Z", "src_ip": "198.51.100.23", "outcome": "success",
    "geo": {"country": "US", "region": "Illinois", "city": "Chicago", "lat": 41.8858, "lon": -87.6181},
    "asn": {"number": 7922, "org": "comcast"},
    "client": {"os": "Mac OS X", "user_agent": RAW_UA},
}


# --- the sign-ins read, field by field --------------------------------------------------------

@pytest.mark.parametrize("event_type", ["user.session.start", "user.authentication.sso"])
def test_a_session_start_or_sso_maps_every_field(event_type):
    assert the_login(sign_in(event_type)) == decode(CHICAGO_LOGIN)


def test_an_mfa_verification_maps_every_field_and_names_the_factor():
    assert the_login(mfa_sign_in()) == decode({**CHICAGO_LOGIN, "mfa": {"method": "OKTA_VERIFY_PUSH"}})


def test_the_factor_falls_back_to_factor_type_then_to_the_credential_type():
    by_type = changed(mfa_sign_in(), {"debugContext.debugData.factor": DELETE,
                                      "debugContext.debugData.factorType": "token:software:totp"})
    assert the_login(by_type).mfa.method == "token:software:totp"
    no_debug = changed(mfa_sign_in(), {"debugContext": DELETE})
    assert the_login(no_debug).mfa.method == "OTP"
    assert the_login(changed(no_debug, {"authenticationContext": DELETE})).mfa is None


def test_only_the_mfa_event_carries_a_factor():
    session = changed(sign_in(), {"debugContext.debugData.factor": "OKTA_VERIFY_PUSH"})
    assert the_login(session).mfa is None


def test_a_registered_device_id_is_mapped_and_the_client_device_type_is_not():
    with_device = changed(sign_in(), {"device": {"id": "guo8rTs2pQ7mNk3Lw1d7", "name": "MacBookPro18,3",
                                                 "os_platform": "OSX", "registered": True}})
    assert the_login(with_device).device_id == "guo8rTs2pQ7mNk3Lw1d7"
    assert the_login(sign_in()).device_id is None  # client.device is "Computer", a type


def test_a_user_agent_okta_could_not_parse_is_left_out():
    record = changed(sign_in(), {"client.userAgent": {"rawUserAgent": "curl/8.5.0", "os": "Unknown",
                                                      "browser": "UNKNOWN"}})
    assert the_login(record).client == decode({**CHICAGO_LOGIN, "client": {"user_agent": "curl/8.5.0"}}).client


# --- outcomes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("result, outcome", [("SUCCESS", "success"), ("ALLOW", "success"),
                                             ("FAILURE", "failure"), ("DENY", "failure")])
def test_results_map_to_success_or_failure(result, outcome):
    login = the_login(changed(sign_in(result=result), {"outcome.reason": "INVALID_CREDENTIALS"}))
    assert login.outcome == outcome
    assert login.src_ip == "198.51.100.23"


def test_a_failed_mfa_is_a_failed_login():
    assert the_login(mfa_sign_in(result="FAILURE")).outcome == "failure"


@pytest.mark.parametrize("result, why", [
    ("CHALLENGE", "the sign-in waits for another factor, whose event carries the result"),
    ("SKIPPED", "the step did not run"),
    ("UNKNOWN", "Okta does not know whether it succeeded"),
])
def test_unfinished_results_are_skipped_with_the_result_in_the_reason(result, why):
    assert translate(sign_in(result=result)) == f"outcome.result {result} is not a finished sign-in: {why}"


@pytest.mark.parametrize("outcome, shown", [({"result": "MAYBE"}, "'MAYBE'"), (None, "missing"),
                                            ({"result": ["SUCCESS"]}, "['SUCCESS']")])
def test_an_undocumented_or_missing_result_is_rejected(outcome, shown):
    assert translate(changed(sign_in(), {"outcome": outcome})) == Rejection(
        "adapter_error", "outcome.result",
        f"`outcome.result` is {shown}; expected one of SUCCESS, ALLOW, FAILURE, DENY, CHALLENGE, SKIPPED, UNKNOWN")


# --- what is skipped --------------------------------------------------------------------------

@pytest.mark.parametrize("event_type", ["user.account.update_password", "policy.evaluate_sign_on",
                                        "user.session.end", "user.authentication.verify"])
def test_other_event_types_are_skipped_naming_the_type(event_type):
    assert translate(sign_in(event_type)) == f"eventType {event_type} is not a sign-in"


def test_a_system_actor_is_skipped():
    record = changed(sign_in(), {"actor": {"id": "0oa1system", "type": "SystemPrincipal",
                                           "alternateId": "system@okta.com", "displayName": "Okta System"}})
    assert translate(record) == "actor.type SystemPrincipal is not a User"


# --- what is rejected -------------------------------------------------------------------------

def test_an_unknown_user_is_rejected_as_unknown_identity():
    assert translate(sign_in(login="mallory@example.net")) == Rejection(
        "unknown_identity", "actor.alternateId",
        "`actor.alternateId` is 'mallory@example.net': no employee record lists it as its id or an alias")


def test_a_sign_in_without_an_address_is_rejected():
    assert translate(changed(sign_in(), {"client.ipAddress": DELETE})) == Rejection(
        "adapter_error", "client.ipAddress", "`client.ipAddress` is missing: the sign-in does not say where it came from")
    assert translate(changed(sign_in(), {"client": None})).path == "client.ipAddress"


def test_a_sign_in_without_a_time_is_rejected():
    assert translate(changed(sign_in(), {"published": DELETE})) == Rejection(
        "adapter_error", "published", "`published` is missing: the sign-in does not say when it happened")


def test_a_record_without_an_event_type_is_not_an_okta_event():
    assert translate({"kind": "login", "user": "ana.kim@example.com"}) == Rejection(
        "adapter_error", "eventType", "`eventType` is missing: not an Okta System Log event")


def test_a_malformed_nested_object_is_rejected_with_its_path():
    assert translate(changed(sign_in(), {"client.geographicalContext": "Chicago"})) == Rejection(
        "adapter_error", "client.geographicalContext", "`client.geographicalContext` is 'Chicago'; expected an object")


def test_an_address_the_contract_refuses_is_rejected_at_src_ip():
    result = translate(changed(sign_in(), {"client.ipAddress": "198.51.100.300"}))
    assert (result.code, result.path) == ("bad_format", "src_ip")


# --- places -----------------------------------------------------------------------------------

def test_a_country_name_that_cannot_be_mapped_leaves_geo_to_geoip():
    record = changed(sign_in(), {"client.geographicalContext.country": "Atlantis"})
    login = the_login(record)
    assert login.geo is None
    geoip = {"198.51.100.23": {"country": {"iso_code": "US"}, "city": {"names": {"en": "Chicago"}},
                               "location": {"latitude": 41.9, "longitude": -87.6, "accuracy_radius": 20}}}
    assert Enricher(city=geoip)(login).geo == decode(
        {**CHICAGO_LOGIN, "geo": {"country": "US", "city": "Chicago", "lat": 41.9, "lon": -87.6, "accuracy_km": 20}}).geo


def test_an_ambiguous_country_name_is_left_to_geoip_too():
    assert the_login(changed(sign_in(), {"client.geographicalContext.country": "Congo"})).geo is None


def test_a_place_located_to_the_country_only_keeps_no_coordinates():
    record = changed(sign_in(), {"client.geographicalContext": {
        "country": "Russia", "geolocation": {"lat": 55.7386, "lon": 37.6068}}})
    assert the_login(record).geo == decode({**CHICAGO_LOGIN, "geo": {"country": "RU"}}).geo


@pytest.mark.parametrize("name, code", [("South Korea", "KR"), ("Korea, Republic of", "KR"), ("Russian Federation", "RU"),
                                        ("Turkey", "TR"), ("Ivory Coast", "CI"), ("united kingdom", "GB"),
                                        ("North Korea", "KP"), ("Kosovo", "XK")])
def test_country_names_in_the_spellings_vendors_use_map_to_iso_codes(name, code):
    assert okta.country_code(name) == code


def test_every_alias_is_a_name_pycountry_does_not_resolve_the_same_way():
    """The alias table holds only what the package lacks, and names real codes (XK: Kosovo, as MaxMind codes it)."""
    import pycountry

    def by_package(name: str) -> str | None:
        try:
            return pycountry.countries.lookup(name).alpha_2
        except LookupError:
            return None

    assert {name: code for name, code in okta.COUNTRY_ALIASES.items() if by_package(name) == code} == {}
    known = {c.alpha_2 for c in pycountry.countries} | {"XK"}
    assert {code for code in okta.COUNTRY_ALIASES.values() if code is not None} <= known


# --- proxies ----------------------------------------------------------------------------------

def test_a_sign_in_okta_flags_as_proxied_comes_through_a_proxy_named_by_its_network():
    record = changed(sign_in(), {"securityContext": {"asNumber": 64512, "asOrg": "astrill ltd", "isProxy": True}})
    login = the_login(record)
    assert login == decode({**CHICAGO_LOGIN, "asn": {"number": 64512, "org": "astrill ltd"},
                            "anonymizer": {"type": "proxy", "provider": "astrill ltd"}})
    assert anonymity(login) == ("proxy", "Astrill VPN")


def test_a_sign_in_not_flagged_as_proxied_is_left_to_the_asn_lists():
    login = the_login(changed(sign_in(), {"securityContext": {"asNumber": 14061, "asOrg": "digitalocean, llc",
                                                              "isProxy": False}}))
    assert login.anonymizer is None
    assert anonymity(login) == ("hosting", "DigitalOcean")


def test_a_proxy_without_a_network_name_has_no_provider():
    login = the_login(changed(sign_in(), {"securityContext": {"isProxy": True}}))
    assert (login.anonymizer.type, login.anonymizer.provider, login.asn) == ("proxy", None, None)


# --- ids --------------------------------------------------------------------------------------

def test_the_same_record_gets_the_same_event_id_every_time():
    record = mfa_sign_in()
    assert the_login(record).event_id == the_login(copy.deepcopy(record)).event_id == f"okta:{UUID}"
    other = mfa_sign_in(uuid="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
    assert the_login(other).event_id == "okta:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def test_a_record_without_a_uuid_gets_the_decoders_stable_id():
    record = changed(sign_in(), {"uuid": DELETE})
    first, again = the_login(record).event_id, the_login(record).event_id
    assert first == again and len(first) == 32
    assert the_login(changed(record, {"published": "2026-03-02T09:00:01.000Z"})).event_id != first


def test_the_adapter_is_registered_and_its_examples_run():
    assert adapters.load("okta") is okta.ADAPTER
    assert list(adapters.ADAPTERS) == sorted(adapters.ADAPTERS)
    result = doctest.testmod(okta)
    assert result.attempted > 0 and result.failed == 0


# --- telltales adapt --------------------------------------------------------------------------

def test_adapt_writes_the_sign_ins_skips_the_rest_sends_rejects_to_the_dlq_and_replay_accepts_it(tmp_path, capsys):
    people = tmp_path / "employees.jsonl"
    people.write_bytes(b"\n".join(msgspec.json.encode(e) for e in (
        employee("emp-1", aliases=["ana.kim@example.com"]), employee("emp-2", aliases=["bo.lee@example.com"]))) + b"\n")
    lines = [
        sign_in(uuid="00000000-0000-4000-8000-000000000001"),
        sign_in("user.account.update_password", uuid="00000000-0000-4000-8000-000000000002"),
        sign_in(login="mallory@example.net", uuid="00000000-0000-4000-8000-000000000003"),
        mfa_sign_in(uuid="00000000-0000-4000-8000-000000000004", published="2026-03-02T09:00:20.000Z"),
        changed(sign_in(uuid="00000000-0000-4000-8000-000000000005"), {"client.ipAddress": DELETE}),
        changed(sign_in("user.authentication.sso", login="bo.lee@example.com", published="2026-03-02T10:15:00.000Z",
                        uuid="00000000-0000-4000-8000-000000000006"),
                {"client.geographicalContext.country": "Atlantis"}),
        changed(sign_in(uuid="00000000-0000-4000-8000-000000000007"), {"actor.type": "SystemPrincipal"}),
        sign_in(result="CHALLENGE", uuid="00000000-0000-4000-8000-000000000008"),
    ]
    export = tmp_path / "okta.jsonl"
    export.write_bytes(b"\n".join([*(json.dumps(x).encode() for x in lines[:6]), b'{"eventType": "user.sess',
                                   *(json.dumps(x).encode() for x in lines[6:])]) + b"\n")
    out, dead = tmp_path / "events.jsonl", tmp_path / "dlq.jsonl"

    assert cli.main(["adapt", "--from", "okta", "--directory", str(people), "--out", str(out), "--dlq", str(dead),
                     str(export)]) == 0

    events = [json.loads(x) for x in out.read_bytes().splitlines()]
    assert [(e["event_id"], e["employee_id"], e["ts"], "mfa" in e, "geo" in e) for e in events] == [
        ("okta:00000000-0000-4000-8000-000000000001", "emp-1", "2026-03-02T09:00:00Z", False, True),
        ("okta:00000000-0000-4000-8000-000000000004", "emp-1", "2026-03-02T09:00:20Z", True, True),
        ("okta:00000000-0000-4000-8000-000000000006", "emp-2", "2026-03-02T10:15:00Z", False, False)]
    envelopes = [msgspec.json.decode(x, type=DlqEnvelope) for x in dead.read_bytes().splitlines()]
    assert [(e.stage, e.adapter, e.code, e.path, e.source) for e in envelopes] == [
        ("adapter", "okta", "unknown_identity", "actor.alternateId", {"file": str(export), "line": 3}),
        ("adapter", "okta", "adapter_error", "client.ipAddress", {"file": str(export), "line": 5}),
        ("adapter", "okta", "bad_json", "", {"file": str(export), "line": 7})]
    assert [json.loads(base64.b64decode(e.original_b64))["uuid"] for e in envelopes[:2]] == [
        "00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000005"]
    assert base64.b64decode(envelopes[2].original_b64) == b'{"eventType": "user.sess'
    assert capsys.readouterr().err.splitlines() == [
        "adapt (okta): 9 records; 3 events written; 3 skipped; 3 rejected",
        "  skipped: eventType user.account.update_password is not a sign-in (1); "
        "actor.type SystemPrincipal is not a User (1); outcome.result CHALLENGE is not a finished sign-in: "
        "the sign-in waits for another factor, whose event carries the result (1)",
        "  rejected: adapter_error 1, bad_json 1, unknown_identity 1"]

    assert cli.main(["replay", "--strict", "--alerts", str(tmp_path / "alerts.jsonl"), str(people), str(out)]) == 0
    assert "5 accepted, 0 rejected" in capsys.readouterr().err
