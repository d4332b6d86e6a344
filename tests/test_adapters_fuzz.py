"""Property tests: a vendor record with any field replaced or removed never crashes an adapter or slips past it.

Starting from valid records of each adapter's tests, one value at a random path is
replaced by any JSON value, or removed. Whatever the result, the translator returns
events the contract accepted, a skip reason, or a published rejection — and never the
catch-all "the adapter failed on this record", which would mean a shape the mapping did
not foresee and cannot explain to the platform team.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telltales.schemas.adapters import Translator, entra, okta, osquery
from telltales.schemas.rejections import CODES, Rejection

import test_adapter_entra as entra_cases
import test_adapter_okta as okta_cases
import test_adapter_osquery as osquery_cases

FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**64) | st.floats(allow_nan=False)
                    | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=6)
REMOVE = object()

ENTRA_RECORDS = [entra_cases.sign_in(), entra_cases.mfa_sign_in(), entra_cases.monitored(entra_cases.mfa_sign_in()),
                 entra_cases.monitored(entra_cases.sign_in(code=50126))]
OKTA_RECORDS = [okta_cases.sign_in(), okta_cases.mfa_sign_in(), okta_cases.sign_in("user.authentication.sso")]
OSQUERY_RECORDS = [
    osquery_cases.snapshot("telltales_processes", [{"name": "anydesk"}, {"name": "zoom.us"}]),
    osquery_cases.snapshot("telltales_usb_devices", [osquery_cases.usb()]),
    osquery_cases.event("added", "telltales_wifi", {"network_name": "home", "bssid": "a4:2b:b0:11:22:33"}),
    osquery_cases.batch("telltales_processes", [{"name": "ssh"}], [{"name": "bash"}]),
]


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON value: dict keys and list indexes."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def mutated(record: dict[str, Any], path: tuple, new: Any) -> dict[str, Any]:
    record = copy.deepcopy(record)
    parent = record
    for part in path[:-1]:
        parent = parent[part]
    if new is REMOVE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return record


def check(translator: Translator, record: dict[str, Any]) -> None:
    result = translator.translate(msgspec.json.encode(record))
    if isinstance(result, Rejection):
        assert result.code in CODES
        assert "failed on this record" not in result.message, result
    elif not isinstance(result, str):
        assert isinstance(result, list)


def mutations(records: list[dict[str, Any]]):
    return st.sampled_from(records).flatmap(
        lambda record: st.tuples(st.just(record), st.sampled_from(paths(record)), JSON | st.just(REMOVE)))


@FUZZ
@given(mutations(ENTRA_RECORDS))
def test_entra_records_with_a_field_replaced_or_removed_are_mapped_skipped_or_explained(case):
    record, path, new = case
    check(Translator(entra.ADAPTER, entra_cases.directory()), mutated(record, path, new))


@FUZZ
@given(mutations(OKTA_RECORDS))
def test_okta_records_with_a_field_replaced_or_removed_are_mapped_skipped_or_explained(case):
    record, path, new = case
    check(Translator(okta.ADAPTER, okta_cases.directory()), mutated(record, path, new))


@FUZZ
@given(mutations(OSQUERY_RECORDS))
def test_osquery_lines_with_a_field_replaced_or_removed_are_mapped_skipped_or_explained(case):
    record, path, new = case
    check(Translator(osquery.ADAPTER, osquery_cases.directory()), mutated(record, path, new))
