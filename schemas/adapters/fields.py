"""Reading a vendor record's fields defensively: parts may be missing, null or of the wrong JSON type.

Shared by the sign-in adapters (Okta, Entra): each helper either returns a value the
contract accepts or raises an `AdapterError` naming the field's path, so a malformed
record is a precise rejection, never an exception the translator has to catch.
"""

from __future__ import annotations

from typing import Any, Final

from .base import AdapterError, shown

MAX_TEXT: Final = 1024        # the contract's bound on `geo` and `client` text
MAX_USER_AGENT: Final = 4096  # the contract's bound on `client.user_agent`


def obj(parent: dict[str, Any], key: str, prefix: str = "") -> dict[str, Any]:
    """`parent[key]` when it is an object, {} when absent or null; AdapterError when it is anything else."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AdapterError("adapter_error", prefix + key, f"`{prefix}{key}` is {shown(value)}; expected an object")
    return value


def required(parent: dict[str, Any], path: str, meaning: str) -> str:
    """The text at `path` (its last part a key of `parent`); AdapterError naming what is lost without it."""
    value = parent.get(path.rpartition(".")[2])
    if not isinstance(value, str) or not value.strip():
        raise AdapterError("adapter_error", path,
                           f"`{path}` is {shown(value)}: the sign-in does not say {meaning}")
    return value.strip()


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """Trimmed text cut to the contract's `limit`; None for empty text or any other JSON type."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]


def is_number(value: Any) -> bool:
    """A JSON number (not a boolean, which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compact(value: Any) -> Any:
    """A nested value without its unset fields; None when nothing is left."""
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if v is not None}
    return value or None


def geo_of(country: str | None, region: Any, city: Any, lat: Any, lon: Any) -> dict[str, Any] | None:
    """The contract's `geo` for an ISO country code, or None without one (the core's GeoIP then fills it).

    Coordinates are kept only with a city: a sign-in located to a country alone comes with
    the country's centre point, which no distance should be measured from.
    """
    if country is None:
        return None
    geo: dict[str, Any] = {"country": country, "region": text(region), "city": text(city)}
    if geo["city"] and is_number(lat) and is_number(lon):
        geo["lat"], geo["lon"] = float(lat), float(lon)
    return geo
