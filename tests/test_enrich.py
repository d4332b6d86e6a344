"""GeoIP enrichment: tiny MMDBs built with mmdb-writer, plus the real bundled GeoLite2 City (2018)."""

from __future__ import annotations

import geoip2.database
import maxminddb
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from builders import CHICAGO, device, geo, vpn
from telltales.detectors.enrich import Enricher

CHICAGO_RECORD = {
    "country": {"iso_code": "US", "names": {"en": "United States"}},
    "subdivisions": [{"iso_code": "IL", "names": {"en": "Illinois"}}],
    "city": {"names": {"en": "Chicago"}},
    "location": {"latitude": 41.8781, "longitude": -87.6298, "accuracy_radius": 20},
}
COUNTRY_ONLY_RECORD = {"country": {"iso_code": "KR"}}


@pytest.fixture(scope="module")
def databases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mmdb")
    city = MMDBWriter(ip_version=4, database_type="GeoLite2-City", languages=["en"], description="test city")
    city.insert_network(IPSet(["203.0.113.0/24"]), CHICAGO_RECORD)
    city.insert_network(IPSet(["198.51.100.0/24"]), COUNTRY_ONLY_RECORD)
    city.to_db_file(str(folder / "city.mmdb"))
    asn = MMDBWriter(ip_version=4, database_type="GeoLite2-ASN", languages=["en"], description="test asn")
    asn.insert_network(IPSet(["203.0.113.0/24"]), {"autonomous_system_number": 7922,
                                                   "autonomous_system_organization": "Comcast Cable"})
    asn.insert_network(IPSet(["192.0.2.0/24"]), {"autonomous_system_number": 64500,
                                                 "autonomous_system_organization": "Example Hosting"})
    asn.to_db_file(str(folder / "asn.mmdb"))
    readers = maxminddb.open_database(str(folder / "city.mmdb")), maxminddb.open_database(str(folder / "asn.mmdb"))
    yield folder, readers
    for reader in readers:
        reader.close()


@pytest.fixture
def enricher(databases):
    _, (city, asn) = databases
    return Enricher(city, asn, hosting_asns={64500})


def test_fills_geo_and_asn_for_a_login_without_them(enricher):
    event = enricher(vpn("e1", 0, "203.0.113.10"))
    assert (event.geo.country, event.geo.region, event.geo.city) == ("US", "Illinois", "Chicago")
    assert event.geo.lat == pytest.approx(41.8781) and event.geo.lon == pytest.approx(-87.6298)
    assert event.geo.accuracy_km == 20.0
    assert (event.asn.number, event.asn.org) == (7922, "Comcast Cable")
    assert event.anonymizer is None and event.src_ip == "203.0.113.10" and event.event_id


def test_event_supplied_values_win(enricher):
    given = vpn("e1", 0, "203.0.113.10", geo={"country": "GB"}, asn={"number": 1, "org": "Source says"})
    assert enricher(given) is given
    partial = enricher(vpn("e1", 0, "203.0.113.10", geo={"country": "GB"}))
    assert partial.geo.country == "GB" and partial.geo.lat is None and partial.asn.number == 7922


def test_country_only_record_gives_no_coordinates(enricher):
    event = enricher(vpn("e1", 0, "198.51.100.7"))
    assert event.geo.country == "KR" and event.geo.lat is None and event.geo.accuracy_km is None


def test_hosting_asn_marks_an_anonymizer_unless_the_source_did(enricher):
    assert enricher(vpn("e1", 0, "192.0.2.5")).anonymizer.type == "hosting"
    flagged = enricher(vpn("e1", 0, "192.0.2.5", anonymizer={"type": "vpn", "provider": "Astrill"}))
    assert flagged.anonymizer.provider == "Astrill"
    by_source_asn = enricher(vpn("e1", 0, "203.0.113.9", asn={"number": 64500, "org": "Example Hosting"}))
    assert by_source_asn.anonymizer.provider == "Example Hosting"


def test_unknown_addresses_and_other_events_pass_unchanged(enricher):
    for event in (vpn("e1", 0, "8.8.8.8"), vpn("e1", 0, "2001:db8::1"), device("e1", 0, public_ip="203.0.113.10"),
                  vpn("e1", 0, "203.0.113.10", geo=geo(CHICAGO), asn={"number": 7922})):
        assert enricher(event) is event


def test_lookups_are_memoised_and_bounded(databases):
    _, (city, asn) = databases
    calls = []

    class Counting:
        def get(self, ip):
            calls.append(ip)
            return city.get(ip)

    enricher = Enricher(Counting(), cache_size=2)
    for ip in ("203.0.113.1", "203.0.113.1", "203.0.113.2", "203.0.113.1"):
        enricher(vpn("e1", 0, ip))
    assert calls == ["203.0.113.1", "203.0.113.2"]
    for ip in ("203.0.113.3", "203.0.113.1"):  # the third address evicts the oldest
        enricher(vpn("e1", 0, ip))
    assert calls[2:] == ["203.0.113.3", "203.0.113.1"]


def test_never_raises(databases):
    class Broken:
        def get(self, ip):
            raise OSError("database gone")

    enricher = Enricher(Broken(), Broken())
    event = vpn("e1", 0, "203.0.113.10")
    assert enricher(event) is event and enricher.errors == 2


def test_geoip2_readers_work_too(databases):
    folder, _ = databases
    with geoip2.database.Reader(str(folder / "city.mmdb")) as city, \
            geoip2.database.Reader(str(folder / "asn.mmdb")) as asn:
        enricher = Enricher(city, asn)
        event = enricher(vpn("e1", 0, "203.0.113.10"))
        assert event.geo.city == "Chicago" and event.asn.number == 7922
        missing = vpn("e1", 0, "8.8.4.4")
        assert enricher(missing) is missing


def test_real_geolite2_city():
    from geolite2 import geolite2  # maxminddb-geolite2, a dev dependency

    enricher = Enricher(geolite2.reader())
    google = enricher(vpn("e1", 0, "8.8.8.8")).geo
    assert google.country == "US" and google.accuracy_km >= 100  # a country-level record
    london = enricher(vpn("e1", 0, "81.2.69.160")).geo  # MaxMind's own test address
    assert london.country == "GB" and abs(london.lat - 51.5) < 1 and london.accuracy_km <= 500
