"""Small builders for events in tests: readable one-liners instead of inline JSON fixtures.

Every builder goes through the real decoder, so a test event is always a valid contract
event, normalised exactly as production input would be.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from telltales.schemas.decoder import Decoder
from telltales.schemas.events import DeviceSnapshot, Employee, RemoteSession, VpnLogin
from telltales.schemas.rejections import Rejection

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)  # a Monday, 09:00 UTC
_DECODER = Decoder()


def at(hours: float = 0.0, *, base: dt.datetime = T0) -> str:
    """RFC 3339 time `hours` after T0."""
    return (base + dt.timedelta(hours=hours)).isoformat()


def decode(fields: dict[str, Any]):
    event = _DECODER.decode(msgspec.json.encode(fields))
    if isinstance(event, Rejection):
        raise AssertionError(f"test built an invalid event: {event} from {fields}")
    return event


def vpn(employee_id: str = "e1", hours: float = 0.0, src_ip: str = "203.0.113.10", **fields: Any) -> VpnLogin:
    return decode({"event_type": "vpn_login", "employee_id": employee_id, "ts": at(hours), "src_ip": src_ip, **fields})


def device(employee_id: str = "e1", hours: float = 0.0, **fields: Any) -> DeviceSnapshot:
    return decode({"event_type": "device_snapshot", "employee_id": employee_id, "ts": at(hours), **fields})


def remote(employee_id: str = "e1", hours: float = 0.0, tool: str = "ssh", **fields: Any) -> RemoteSession:
    return decode({"event_type": "remote_session", "employee_id": employee_id, "ts": at(hours), "tool": tool, **fields})


def employee(employee_id: str = "e1", **fields: Any) -> Employee:
    return decode({"event_type": "employee", "employee_id": employee_id, **fields})


# Places used across tests (lat, lon).
CHICAGO = {"city": "Chicago", "country": "US", "lat": 41.88, "lon": -87.63}
NEW_YORK = {"city": "New York", "country": "US", "lat": 40.71, "lon": -74.01}
LONDON = {"city": "London", "country": "GB", "lat": 51.51, "lon": -0.13}
SEOUL = {"city": "Seoul", "country": "KR", "lat": 37.57, "lon": 126.98}
SHENYANG = {"city": "Shenyang", "country": "CN", "lat": 41.81, "lon": 123.43}


def geo(place: dict[str, Any], accuracy_km: float = 20.0) -> dict[str, Any]:
    return {**place, "accuracy_km": accuracy_km}


def home_employee(employee_id: str = "e1", place: dict[str, Any] = CHICAGO, tz: str = "America/Chicago",
                  **fields: Any) -> Employee:
    home = {k: place[k] for k in ("city", "country", "lat", "lon")}
    return employee(employee_id, home=home, timezone=tz,
                    work_hours={"start": "09:00", "end": "17:00"}, **fields)
