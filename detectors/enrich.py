"""GeoIP enrichment of VPN logins from already-opened MaxMind databases: a pure lookup, not a detector.

`Enricher(city, asn, hosting_asns=...)` fills a `vpn_login`'s `geo` (country, region,
city, lat, lon and `accuracy_km` from the database's accuracy radius, which MaxMind
gives in km) and `asn` when the event has none — event-supplied values always win, field
by field of the event (a partial `geo` from the source is kept as it is). A configured
set of hosting ASNs marks `anonymizer` {type: hosting} when the event has none, so every
location detector sees the same verdict. Other events pass through unchanged. Lookups
are memoised per IP in a bounded dict (addresses repeat: one employee logs in from a few
IPs all day), and nothing here raises: an address not in the database, or a database
error, leaves the event as it was.

Opening the files is I/O and lives in `streams/`; this module only reads what it is
given. Readers may be `maxminddb` readers (`get(ip) -> dict | None`, what
`geolite2.reader()` returns) or `geoip2.database.Reader`s (`city(ip)` / `asn(ip)`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from msgspec.structs import force_setattr

from telltales.schemas.events import Anonymizer, Asn, Event, Geo, VpnLogin

MAX_TEXT: Final = 256
Lookup = Callable[[str], "dict[str, Any] | None"]
_Found = tuple["Geo | None", "Asn | None"]


class Enricher:
    """Callable `event -> event` that adds GeoIP city and ASN data to `vpn_login` events.

    Parameters
    ----------
    city
        An opened City database reader (maxminddb or geoip2), or None.
    asn
        An opened ASN database reader, or None.
    hosting_asns
        AS numbers of hosting/VPN networks; a login from one gets
        `anonymizer = {type: "hosting", provider: <AS organisation>}` when it has none.
    cache_size
        Addresses remembered; the oldest are forgotten first.
    """

    event_types: Final = frozenset({VpnLogin})  # the only events it may change; the engine passes it no other

    def __init__(self, city: Any = None, asn: Any = None, *, hosting_asns: Iterable[int] = (),
                 cache_size: int = 65_536) -> None:
        self._city = _lookup(city, "city") if city is not None else None
        self._asn = _lookup(asn, "asn") if asn is not None else None
        self._hosting = frozenset(int(n) for n in hosting_asns)
        self._cache: dict[str, _Found] = {}
        self._cache_size = max(1, cache_size)
        self.errors = 0  # lookups that raised (counted for the driver's metrics; the event passed unchanged)

    def __call__(self, event: Event) -> Event:
        if event.__class__ is not VpnLogin:  # for callers other than the engine
            return event
        need_geo = event.geo is None and self._city is not None
        need_asn = event.asn is None and self._asn is not None
        if not (need_geo or need_asn or (self._hosting and event.anonymizer is None)):
            return event
        geo, asn = self._find(event.src_ip) if (need_geo or need_asn) else (None, None)
        changes: dict[str, Any] = {}
        if need_geo and geo is not None:
            changes["geo"] = geo
        if need_asn and asn is not None:
            changes["asn"] = asn
        effective_asn = event.asn or asn
        if (event.anonymizer is None and effective_asn is not None
                and effective_asn.number in self._hosting):
            changes["anonymizer"] = Anonymizer(type="hosting", provider=effective_asn.org)
        if not changes:
            return event
        # A fresh copy with fields set directly: `msgspec.structs.replace` would re-run the
        # event's __post_init__ (IP parsing, ~2.5 µs); the copy is new, so nothing shared changes.
        enriched = event.__copy__()
        for name, value in changes.items():
            force_setattr(enriched, name, value)
        return enriched

    def _find(self, ip: str) -> _Found:
        cache = self._cache
        found = cache.get(ip)
        if found is None:
            found = (self._geo(ip), self._asn_of(ip))
            if len(cache) >= self._cache_size:
                del cache[next(iter(cache))]
            cache[ip] = found
        return found

    def _geo(self, ip: str) -> Geo | None:
        if self._city is None:
            return None
        try:
            return geo_from_record(self._city(ip))
        except Exception:  # noqa: BLE001 — a bad record or reader error must not stop the stream
            self.errors += 1
            return None

    def _asn_of(self, ip: str) -> Asn | None:
        if self._asn is None:
            return None
        try:
            return asn_from_record(self._asn(ip))
        except Exception:  # noqa: BLE001
            self.errors += 1
            return None


def geo_from_record(record: dict[str, Any] | None) -> Geo | None:
    """A `Geo` from a GeoIP2/GeoLite2 City record (the MMDB's plain dict), or None when it locates nothing.

    >>> geo_from_record({"country": {"iso_code": "gb"}, "city": {"names": {"en": "London"}},
    ...                  "location": {"latitude": 51.5, "longitude": -0.12, "accuracy_radius": 20}})
    Geo(country='GB', region=None, city='London', lat=51.5, lon=-0.12, accuracy_km=20.0)
    """
    if not record:
        return None
    country = (record.get("country") or {}).get("iso_code")
    if not (isinstance(country, str) and len(country) == 2 and country.isascii() and country.isalpha()):
        country = None
    location = record.get("location") or {}
    lat, lon = location.get("latitude"), location.get("longitude")
    if not (_number(lat) and _number(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    radius = location.get("accuracy_radius")
    accuracy = float(min(radius, 20_038)) if _number(radius) and radius >= 0 and lat is not None else None
    if country is None and lat is None:
        return None
    subdivisions = record.get("subdivisions") or [{}]
    return Geo(country=country, region=_name(subdivisions[0]) or _text(subdivisions[0].get("iso_code")),
               city=_name(record.get("city")), lat=_float(lat), lon=_float(lon), accuracy_km=accuracy)


def asn_from_record(record: dict[str, Any] | None) -> Asn | None:
    """An `Asn` from a GeoLite2/GeoIP2 ASN (or ISP) record, or None."""
    if not record:
        return None
    number = record.get("autonomous_system_number")
    if not (isinstance(number, int) and 0 <= number <= 4_294_967_295):
        return None
    return Asn(number=number, org=_text(record.get("autonomous_system_organization")))


def _lookup(reader: Any, kind: str) -> Lookup:
    """A plain `ip -> record dict | None` over a maxminddb or geoip2 reader."""
    get = getattr(reader, "get", None)
    if callable(get):
        return get
    method = getattr(reader, kind)  # geoip2.database.Reader.city / .asn

    def lookup(ip: str) -> dict[str, Any] | None:
        try:
            model = method(ip)
        except LookupError:
            return None
        except RuntimeError as exc:  # geoip2's AddressNotFoundError derives from RuntimeError
            if type(exc).__name__ == "AddressNotFoundError":
                return None
            raise
        to_dict = getattr(model, "to_dict", None)  # geoip2 ≥ 5; older models keep the record in `.raw`
        return to_dict() if callable(to_dict) else model.raw

    return lookup


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def _name(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    names = entry.get("names")
    return _text(names.get("en")) if isinstance(names, dict) else None


def _text(value: Any) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) and value else None
