"""OCSF findings: one case record from fusion becomes one OCSF 1.5.0 Detection Finding (class_uid 2004).

The mapping follows SPEC section 6. Everything in a finding derives from the case record
and the detectors' metadata — no clock, no randomness — so replaying the same events
with the same configuration yields the same bytes (`encode_finding`).

Where things are:

- the case: `finding_info.uid` (UUIDv5 of employee id and case number, stable across
  Create / Update / Close) and `finding_info.uid_alt` ("<employee>#<case number>");
  `metadata.uid` identifies one emitted record (UUIDv5 of the case uid, activity, time,
  risk, contributing detectors and reason), `metadata.correlation_uid` repeats the case uid;
- the employee: `actor.user.uid` (the `host` profile, declared in `metadata.profiles`),
  the same `actor.user` in every evidence, and an observable `actor.user.uid`;
- a laptop farm: employees that share infrastructure share a group id, written as a
  group of the user, `actor.user.groups[] = {uid, name, type: "laptop_farm"}` (also in
  each evidence whose signal named it, and as an observable `actor.user.groups.uid`).
  OCSF's `group` object is "a collection of users", which is what a farm is; `group_of()`
  reads it back;
- each contributing signal: `evidences[i]` with `name` = detector id, `uid` = newest
  source event id, and `data` = {detector, title, severity, weight, score, contribution,
  summary, time, event_ids, observed: the detector's observed values};
- fusion's place agreement: one more evidence named `place_agreement` (title and runbook
  from `fusion.PLACE_AGREEMENT_META`), its summary naming the agreeing tells and the UTC
  offset they agree on, `observed` = {utc_offset_h, tells, detectors, chance};
- ATT&CK: `finding_info.attacks`, one object per (technique, tactic) from the table
  below, `version` "17.1" (T1219 "Remote Access Tools" and T1219.003 need v17+).

Risk 0–100 maps to `risk_level_id` and `severity_id` with fusion's own thresholds and
bands: below `close_threshold` Info/Informational, below `create_threshold` Low, then
Medium, High (≥ 75) and Critical (≥ 90); an open case reports its band, which fusion
holds a few points below an edge (`BAND_HYSTERESIS`). `confidence_score` is how strongly the
observations themselves match — the contribution-weighted mean of the signals' scores —
independent of how many there are (that is what risk measures).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

import orjson

from .fusion import PLACE_AGREEMENT, PLACE_AGREEMENT_META, Active, CaseChange, Fusion

OCSF_VERSION: Final = "1.5.0"
OCSF_PROFILES: Final = ("host",)  # gives Detection Finding its top-level `actor`
ATTACK_VERSION: Final = "17.1"
CLASS_UID: Final = 2004
CATEGORY_UID: Final = 2
PRODUCT_NAME: Final = "telltales"

# Fixed namespace of this project's UUIDv5 identifiers: uuid5(NAMESPACE_URL, "urn:telltales:finding").
# Changing it changes every case uid ever emitted — never do.
NAMESPACE: Final = uuid.UUID("8ab1ce22-aa26-5ae0-8d12-c756be9a66fd")

GROUP_TYPE: Final = "laptop_farm"

ACTIVITY: Final = {"create": (1, "Create"), "update": (2, "Update"), "close": (3, "Close")}
STATUS: Final = {"create": (1, "New"), "update": (2, "In Progress"), "close": (4, "Resolved")}
# (risk_level_id, risk_level, severity_id, severity) per level, lowest first.
LEVELS: Final = ((0, "Info", 1, "Informational"), (1, "Low", 2, "Low"), (2, "Medium", 3, "Medium"),
                 (3, "High", 4, "High"), (4, "Critical", 5, "Critical"))
CONFIDENCE: Final = ((75, 3, "High"), (45, 2, "Medium"), (0, 1, "Low"))  # score ≥ bound → id, name

# Observable type ids of OCSF 1.5.0.
OBSERVABLE_IP: Final = 2
OBSERVABLE_USER_UID: Final = 31
OBSERVABLE_GROUP_UID: Final = 33

# Analytic type ids: the fusion is a statistical combination; detectors are rules unless listed.
ANALYTIC_RULE: Final = 1
ANALYTIC_TYPES: Final = {"baseline_anomaly": (4, "Learning (ML/DL)"), "work_hours": (2, "Behavioral")}

TACTICS: Final = {
    "TA0001": "Initial Access", "TA0003": "Persistence", "TA0004": "Privilege Escalation",
    "TA0005": "Defense Evasion", "TA0008": "Lateral Movement", "TA0011": "Command and Control",
    "TA0042": "Resource Development",
}
# ATT&CK Enterprise v17.1: technique id → (name, tactic ids). Sub-techniques name their parent by id prefix.
TECHNIQUES: Final = {
    "T1219": ("Remote Access Tools", ("TA0011",)),
    "T1219.001": ("IDE Tunneling", ("TA0011",)),
    "T1219.002": ("Remote Desktop Software", ("TA0011",)),
    "T1219.003": ("Remote Access Hardware", ("TA0011",)),
    "T1133": ("External Remote Services", ("TA0001", "TA0003")),
    "T1078": ("Valid Accounts", ("TA0005", "TA0003", "TA0004", "TA0001")),
    "T1078.004": ("Cloud Accounts", ("TA0005", "TA0003", "TA0004", "TA0001")),
    "T1090": ("Proxy", ("TA0011",)),
    "T1090.002": ("External Proxy", ("TA0011",)),
    "T1090.003": ("Multi-hop Proxy", ("TA0011",)),
    "T1200": ("Hardware Additions", ("TA0001",)),
    "T1021": ("Remote Services", ("TA0008",)),
    "T1021.001": ("Remote Desktop Protocol", ("TA0008",)),
    "T1036": ("Masquerading", ("TA0005",)),
    "T1656": ("Impersonation", ("TA0005",)),
    "T1572": ("Protocol Tunneling", ("TA0011",)),
    "T1665": ("Hide Infrastructure", ("TA0011",)),
    "T1585": ("Establish Accounts", ("TA0042",)),
}

FUSION_ALGORITHM: Final = ("noisy-OR of per-detector weight × score, each halved every half-life of event time: "
                           "risk = 100 × (1 − Π(1 − cᵢ))")
BASE_TYPES: Final = ("Insider Threat", "Remote Worker Misrepresentation")

_COORDINATE_KEYS: Final = frozenset({"lat", "lon", "lng", "latitude", "longitude"})
_PAIR_KEYS: Final = frozenset({"latlon", "lat_lon", "coords", "coordinates", "point", "position", "location"})
_IP_KEYS: Final = frozenset({"ip", "ips"})


def finding_uid(employee_id: str, case_number: int) -> str:
    """The case's `finding_info.uid`: the same for every record of one case, different across cases.

    >>> finding_uid("e-1", 1) == finding_uid("e-1", 1) != finding_uid("e-1", 2)
    True
    """
    # The case number is an int and comes last, so "a:1" + 2 and "a" + ... cannot collide.
    return str(uuid.uuid5(NAMESPACE, f"case:{employee_id}:{int(case_number)}"))


def encode_finding(finding: Mapping[str, Any]) -> bytes:
    """One line of JSON with sorted keys: identical findings give identical bytes (no trailing newline)."""
    return orjson.dumps(finding, option=orjson.OPT_SORT_KEYS)


def group_of(finding: Mapping[str, Any]) -> str | None:
    """The laptop-farm group id a finding links its employee to, or None."""
    groups = ((finding.get("actor") or {}).get("user") or {}).get("groups") or ()
    return next((g.get("uid") for g in groups if g.get("type") == GROUP_TYPE), None)


class FindingBuilder:
    """Builds findings for one configuration: the detectors' metadata, fusion's thresholds, the product version.

    `detectors` is what `registry.discover()` returns (id → class) or any iterable of
    detector classes or instances. `location_decimals` rounds every latitude/longitude in
    evidence data to that many decimals (None keeps them as observed).
    """

    def __init__(self, detectors: Mapping[str, Any] | Iterable[Any], fusion: Fusion, *, product_version: str,
                 vendor_name: str = PRODUCT_NAME, location_decimals: int | None = None) -> None:
        items = detectors.values() if isinstance(detectors, Mapping) else detectors
        self.meta: dict[str, dict[str, Any]] = {}
        for d in items:
            self.meta[d.id] = {
                "title": getattr(d, "title", d.id),
                "severity": getattr(d, "severity", "medium"),
                "attacks": tuple(getattr(d, "attacks", ())),
                "runbook": getattr(d, "runbook", ""),
                "event_types": tuple(getattr(d, "event_types", ())),
            }
        self.meta.setdefault(PLACE_AGREEMENT, dict(PLACE_AGREEMENT_META))
        self.fusion = fusion
        self.product = {"name": PRODUCT_NAME, "vendor_name": vendor_name, "version": product_version}
        self.location_decimals = location_decimals

    # Public -----------------------------------------------------------------------------
    def build(self, change: CaseChange, *, user_name: str | None = None) -> dict[str, Any]:
        """The Detection Finding for one case record (a fresh dict of plain JSON values)."""
        case = change.case
        case_uid = finding_uid(change.employee_id, case.number)
        time_ms = _ms(change.time)
        risk = max(0.0, min(100.0, change.risk))
        level = 1 + case.band if case.open and case.band else self._level(risk)  # an open case: its (held) band
        risk_level_id, risk_level, severity_id, severity = LEVELS[level]
        activity_id, activity_name = ACTIVITY[change.activity]
        status_id, status = STATUS[change.activity]

        ranked = self._ranked(change)
        total = sum(c for _, _, c in ranked)
        confidence = round(100 * sum(a.score * c for _, a, c in ranked) / total) if total > 0 else 0
        confidence_id, confidence_name = (next((i, n) for bound, i, n in CONFIDENCE if confidence >= bound)
                                          if ranked else (0, "Unknown"))

        user = self._user(change.employee_id, user_name, case.group)
        evidences = [self._evidence(detector, active, contribution, change.employee_id, user_name)
                     for detector, active, contribution in ranked]
        detectors = [d for d, _, _ in ranked]
        level_text = f"risk {round(risk)}/100 ({risk_level})"

        finding: dict[str, Any] = {
            "activity_id": activity_id,
            "activity_name": activity_name,
            "category_uid": CATEGORY_UID,
            "category_name": "Findings",
            "class_uid": CLASS_UID,
            "class_name": "Detection Finding",
            "type_uid": CLASS_UID * 100 + activity_id,
            "type_name": f"Detection Finding: {activity_name}",
            "time": time_ms,
            "timezone_offset": 0,
            "severity_id": severity_id,
            "severity": severity,
            "risk_score": round(risk),
            "risk_level_id": risk_level_id,
            "risk_level": risk_level,
            "confidence_score": confidence,
            "confidence_id": confidence_id,
            "confidence": confidence_name,
            "status_id": status_id,
            "status": status,
            "status_detail": change.reason,
            "is_alert": change.activity != "close",
            "message": f"{change.employee_id}: {level_text} — {change.reason}",
            "metadata": {
                "uid": str(uuid.uuid5(NAMESPACE, "|".join((case_uid, change.activity, str(time_ms), repr(risk),
                                                           ",".join(sorted(detectors)), change.reason)))),
                "correlation_uid": case_uid,
                "version": OCSF_VERSION,
                "profiles": list(OCSF_PROFILES),
                "product": dict(self.product),
            },
            "actor": {"user": user},
            "finding_info": {
                "uid": case_uid,
                "uid_alt": f"{change.employee_id}#{case.number}",
                "title": self._title(change.employee_id, detectors),
                "desc": self._desc(change, level_text, ranked),
                "types": list(BASE_TYPES) + (["Laptop Farm"] if case.group else []),
                "analytic": {"uid": "telltales.fusion", "name": "telltales risk fusion", "type_id": 3,
                             "type": "Statistical", "algorithm": FUSION_ALGORITHM,
                             "version": self.product["version"]},
                "related_analytics": [self._analytic(d) for d in detectors],
                "attacks": self._attacks(detectors),
                "data_sources": sorted({t for d in detectors for t in self._meta(d)["event_types"]}),
                "first_seen_time": _ms(case.first_seen),
                "last_seen_time": _ms(max(case.last_seen, case.first_seen)),
                "related_events": [{"uid": i} for i in self._event_ids(change, ranked)],
            },
            "evidences": evidences,
            "observables": self._observables(change.employee_id, case.group, evidences),
        }
        finding["finding_info"]["related_events_count"] = len(finding["finding_info"]["related_events"])
        runbooks = [f"{d}: {self._meta(d)['runbook']}" for d in detectors if self._meta(d)["runbook"]]
        if runbooks:
            finding["remediation"] = {"desc": " ".join(runbooks)}
        return finding

    # Internal ---------------------------------------------------------------------------
    def _meta(self, detector: str) -> dict[str, Any]:
        return self.meta.get(detector) or {"title": detector, "severity": "medium", "attacks": (), "runbook": "",
                                           "event_types": ()}

    def _level(self, risk: float) -> int:
        band = self.fusion.band(risk)  # 0 below create, then medium / high / critical
        if band:
            return 1 + band
        return 1 if risk >= self.fusion.close_threshold else 0

    def _ranked(self, change: CaseChange) -> list[tuple[str, Active, float]]:
        """(detector, signal, contribution at the record's time), strongest first, ties by id."""
        ranked = [(d, a, self.fusion.decayed(a, change.time)) for d, a in change.evidence.items()]
        ranked.sort(key=lambda item: (-item[2], item[0]))
        return ranked

    def _user(self, employee_id: str, user_name: str | None, group: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {"uid": employee_id, "type_id": 1, "type": "User"}
        if user_name:
            user["name"] = user_name
        if group:
            user["groups"] = [{"uid": group, "name": f"suspected laptop farm {group}", "type": GROUP_TYPE}]
        return user

    def _evidence(self, detector: str, active: Active, contribution: float, employee_id: str,
                  user_name: str | None) -> dict[str, Any]:
        meta = self._meta(detector)
        evidence: dict[str, Any] = {
            "name": detector,
            "actor": {"user": self._user(employee_id, user_name, active.group)},
            "data": {
                "detector": detector,
                "title": meta["title"],
                "severity": meta["severity"],
                "weight": round(active.weight, 4),
                "score": round(active.score, 4),
                "contribution": round(contribution, 4),
                "summary": active.summary,
                "time": _ms(active.time),
                "event_ids": list(active.event_ids),
                "observed": _plain(active.data, self.location_decimals),
            },
        }
        if active.event_ids:
            evidence["uid"] = active.event_ids[-1]
        return evidence

    def _title(self, employee_id: str, detectors: list[str]) -> str:
        if not detectors:
            return f"{employee_id}: case closed, no current evidence"
        more = len(detectors) - 1
        return f"{employee_id}: {self._meta(detectors[0])['title']}" + (f" (+{more} more)" if more else "")

    def _desc(self, change: CaseChange, level_text: str, ranked: list[tuple[str, Active, float]]) -> str:
        opening = {"create": "Case opened", "update": "Case updated", "close": "Case closed"}[change.activity]
        parts = [f"Employee {change.employee_id}, case {change.case.number}: {level_text}. "
                 f"{opening}: {change.reason}."]
        if ranked:
            reasons = "; ".join(f"{i}) {self._meta(d)['title']} — {a.summary} (contribution {c:.2f})"
                                for i, (d, a, c) in enumerate(ranked[:3], 1))
            parts.append(f"Top reasons: {reasons}.")
            if len(ranked) > 3:
                parts.append(f"{len(ranked) - 3} weaker signal(s) also contribute.")
        if change.case.group:
            parts.append(f"Shares infrastructure with other employees: suspected laptop farm {change.case.group}.")
        return " ".join(parts)

    def _analytic(self, detector: str) -> dict[str, Any]:
        type_id, type_name = ANALYTIC_TYPES.get(detector, (ANALYTIC_RULE, "Rule"))
        return {"uid": detector, "name": self._meta(detector)["title"], "type_id": type_id, "type": type_name}

    def _attacks(self, detectors: list[str]) -> list[dict[str, Any]]:
        """One ATT&CK object per (technique, tactic), as OCSF 1.1+ asks (`tactics` is deprecated)."""
        attacks = []
        for technique_id in sorted({t for d in detectors for t in self._meta(d)["attacks"]}):
            parent_id = technique_id.split(".")[0]
            tactics = (TECHNIQUES.get(technique_id) or TECHNIQUES.get(parent_id) or ("", ()))[1]
            for tactic in tactics or (None,):
                entry: dict[str, Any] = {"version": ATTACK_VERSION,
                                         "technique": _named(parent_id, TECHNIQUES.get(parent_id))}
                if technique_id != parent_id:
                    entry["sub_technique"] = _named(technique_id, TECHNIQUES.get(technique_id))
                if tactic is not None:
                    entry["tactic"] = {"uid": tactic, "name": TACTICS[tactic]}
                attacks.append(entry)
        return attacks

    def _event_ids(self, change: CaseChange, ranked: list[tuple[str, Active, float]]) -> list[str]:
        ids = dict.fromkeys(change.case.event_ids)
        for _, active, _ in ranked:
            ids.update(dict.fromkeys(active.event_ids))
        return list(ids)

    def _observables(self, employee_id: str, group: str | None, evidences: list[dict]) -> list[dict[str, Any]]:
        # No `type` label on these two: its caption differs between OCSF tool chains, and it is optional.
        observables = [{"name": "actor.user.uid", "type_id": OBSERVABLE_USER_UID, "value": employee_id}]
        if group:
            observables.append({"name": "actor.user.groups.uid", "type_id": OBSERVABLE_GROUP_UID, "value": group})
        ips: dict[str, str] = {}
        for evidence in evidences:
            _collect_ips(evidence["data"]["observed"], ips)
        observables += [{"name": f"evidences.data.observed.{key}", "type_id": OBSERVABLE_IP, "type": "IP Address",
                         "value": ip} for ip, key in ips.items()]
        return observables


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000.0))


def _named(uid: str, entry: tuple[str, tuple[str, ...]] | None) -> dict[str, str]:
    return {"uid": uid, "name": entry[0]} if entry else {"uid": uid}


def _is_coordinate(key: str) -> bool:
    key = key.lower()
    return key in _COORDINATE_KEYS or key.rsplit("_", 1)[-1] in _COORDINATE_KEYS


def _is_pair(key: str) -> bool:
    key = key.lower()
    return key in _PAIR_KEYS or key.rsplit("_", 1)[-1] in _PAIR_KEYS


def _plain(value: Any, decimals: int | None, key: str = "") -> Any:
    """A fresh copy of JSON-like data (tuples become lists), with latitudes/longitudes rounded if asked.

    >>> _plain({"home": {"lat": 41.8781, "lon": -87.6298}, "seen_latlon": (37.5665, 126.978), "ms": 110.25}, 1)
    {'home': {'lat': 41.9, 'lon': -87.6}, 'seen_latlon': [37.6, 127.0], 'ms': 110.25}
    """
    if isinstance(value, Mapping):
        return {k: _plain(v, decimals, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if (decimals is not None and all(_is_number(v) for v in value)
                and (_is_coordinate(key) or (len(value) == 2 and _is_pair(key)))):
            return [round(float(v), decimals) for v in value]
        return [_plain(v, decimals, key) for v in value]
    if decimals is not None and _is_number(value) and _is_coordinate(key):
        return round(float(value), decimals)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _collect_ips(value: Any, out: dict[str, str], key: str = "") -> None:
    """Valid IP addresses (→ the key they were under) under keys ip / ips / *_ip / *_ips, in order of appearance."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            _collect_ips(v, out, str(k))
    elif isinstance(value, list):
        for v in value:
            _collect_ips(v, out, key)
    elif isinstance(value, str) and key.lower().rsplit("_", 1)[-1] in _IP_KEYS:
        try:
            out.setdefault(str(ipaddress.ip_address(value)), key)
        except ValueError:
            pass
