"""Opening the configured GeoIP databases: bundled default, clear errors for a bad path."""

from __future__ import annotations

import pytest

from builders import vpn
from telltales.schemas.config import ConfigError, GeoipConfig
from telltales.streams.geoip import open_enricher


def test_bundled_geolite2_enriches_when_no_database_is_configured():
    enrich = open_enricher(GeoipConfig())
    assert enrich is not None
    event = enrich(vpn("e1", 0, "81.2.69.160"))  # a London address in GeoLite2
    assert event.geo is not None and event.geo.country == "GB"


def test_no_enricher_without_databases():
    assert open_enricher(GeoipConfig(), use_bundled=False) is None


@pytest.mark.parametrize("key", ["city_db", "asn_db"])
def test_an_unreadable_database_names_the_key(tmp_path, key):
    bogus = tmp_path / "not-a-db.mmdb"
    bogus.write_bytes(b"definitely not an mmdb")
    with pytest.raises(ConfigError, match=rf"^geoip\.{key}: cannot open MaxMind database {bogus}"):
        open_enricher(GeoipConfig(**{key: str(bogus)}))
