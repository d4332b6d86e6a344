"""Opens the configured MaxMind databases (I/O lives here, not in detectors) and builds the enricher."""

from __future__ import annotations

from typing import Any

from telltales.detectors.enrich import Enricher
from telltales.schemas.config import ConfigError, GeoipConfig


def _open(path: str, key: str) -> Any:
    import maxminddb

    try:
        return maxminddb.open_database(path)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError(f"{key}: cannot open MaxMind database {path}: {exc}") from None


def bundled_city_reader() -> Any | None:
    """The GeoLite2 City database shipped by the `maxminddb-geolite2` package (2018 data), if installed."""
    try:
        from geolite2 import geolite2
    except ImportError:
        return None
    return geolite2.reader()


def open_enricher(cfg: GeoipConfig, *, use_bundled: bool = True) -> Enricher | None:
    """An Enricher over the configured databases; the bundled GeoLite2 City when none is configured."""
    city = _open(cfg.city_db, "geoip.city_db") if cfg.city_db else (bundled_city_reader() if use_bundled else None)
    asn = _open(cfg.asn_db, "geoip.asn_db") if cfg.asn_db else None
    if city is None and asn is None:
        return None
    return Enricher(city, asn, hosting_asns=frozenset(cfg.hosting_asns))


def build_engine(config) -> "Engine":
    """The detection core for a config, with the GeoIP enricher opened from its databases."""
    from telltales.detectors.engine import Engine

    return Engine(config, enrich=open_enricher(config.geoip))
