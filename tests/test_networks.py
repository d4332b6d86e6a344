"""The fast address tests (`parse_address`, `Networks`) give the verdicts of the standard `ipaddress` module."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from telltales.detectors.base import Networks, Org, parse_address
from telltales.detectors.shared_infrastructure import LOCAL_NETWORKS

NETWORKS = (*LOCAL_NETWORKS, ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("2001:db8:5::/48"))
# Forms people and sources write: both families, mapped, exploded, upper case, zone ids, near misses.
ADDRESSES = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: a.exploded.upper()),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.ip_addresses(v=6).map(lambda a: f"{a}%eth0"),
    st.sampled_from(["10.1.2.3", "fe80::1", "198.51.100.9", "2001:db8:5::7", "01.2.3.4", "1.2.3", "256.0.0.1",
                     "1.2.3.4 ", "::1::", "", "1.2.3.4\x00", "١.2.3.4", "1:2:3:4:5:6:7:8:9"]),
    st.text(alphabet="0123456789abcdefABCDEF.:%", max_size=40),
)


def reference(ip: str) -> tuple[int, int] | None:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return address.version, int(address)


@settings(max_examples=2000, deadline=None)
@given(ADDRESSES)
def test_parse_and_membership_agree_with_ipaddress(ip):
    assert parse_address(ip) == reference(ip)
    if (address := parse_address(ip)) is not None:
        expected = any(ipaddress.ip_address(ip) in n for n in NETWORKS)
        assert Networks(NETWORKS).holds(address) is expected


def test_org_labels_addresses_by_its_networks():
    org = Org(office_networks=(ipaddress.ip_network("198.51.100.0/24"),),
              vpn_egress_networks=(ipaddress.ip_network("2001:db8:5::/48"),),
              allowlisted_networks=(ipaddress.ip_network("203.0.113.7/32"),))
    assert [org.network_of(ip) for ip in ("198.51.100.255", "2001:db8:5:ffff::1", "203.0.113.7", "203.0.113.8",
                                          "::ffff:198.51.100.1", "not an address")] == \
        ["office", "vpn_egress", "allowlisted", None, None, None]
