"""The physics helpers: known distances, the fibre bound, and the laws a metric must obey."""

import doctest
import math

from hypothesis import given
from hypothesis import strategies as st

from telltales.detectors import geo
from telltales.detectors.geo import (
    HALF_EQUATOR_KM, fibre_slack_km, haversine_km, max_distance_km, min_rtt_ms, travel_speed_kmh,
)

lat = st.floats(min_value=-90, max_value=90, allow_nan=False)
lon = st.floats(min_value=-180, max_value=180, allow_nan=False)


def test_docstring_examples_run():
    result = doctest.testmod(geo)
    assert result.attempted >= 10 and result.failed == 0


def test_known_city_distances_within_half_a_percent():
    cases = [  # (from, to, km) from published great-circle distances
        ((40.7128, -74.0060), (51.5074, -0.1278), 5570),   # New York - London
        ((37.7749, -122.4194), (34.0522, -118.2437), 559),  # San Francisco - Los Angeles
        ((-33.8688, 151.2093), (51.5074, -0.1278), 16_994),  # Sydney - London
    ]
    for (a, b), (c, d), km in cases:
        assert math.isclose(haversine_km(a, b, c, d), km, rel_tol=0.005), (a, b, c, d)


def test_fibre_bound_is_a_hundred_km_per_ms_of_round_trip():
    assert min_rtt_ms(10_000) == 100.0
    assert max_distance_km(100.0) == 10_000.0
    assert max_distance_km(min_rtt_ms(1234.5)) == 1234.5
    # The Amazon case: a device 25 ms from a US vantage point is within 2,500 km of it.
    assert max_distance_km(25.0) == 2500.0


def test_slack_and_speed():
    assert fibre_slack_km(3000.0, 20.0) == -1000.0
    assert travel_speed_kmh(0.0, 0.0) == 0.0
    assert travel_speed_kmh(900.0, 3600.0) == 900.0


@given(lat, lon, lat, lon)
def test_haversine_is_symmetric_bounded_and_non_negative(a, b, c, d):
    forward = haversine_km(a, b, c, d)
    assert 0.0 <= forward <= HALF_EQUATOR_KM + 1e-6
    assert math.isclose(forward, haversine_km(c, d, a, b), abs_tol=1e-6)


@given(lat, lon, lat, lon, lat, lon)
def test_haversine_obeys_the_triangle_inequality(a, b, c, d, e, f):
    # Why RTTs through a VPN exit can never beat the direct fibre bound.
    assert haversine_km(a, b, e, f) <= haversine_km(a, b, c, d) + haversine_km(c, d, e, f) + 1e-6


@given(st.floats(min_value=0, max_value=20_000, allow_nan=False))
def test_min_rtt_and_max_distance_are_inverse(km):
    assert math.isclose(max_distance_km(min_rtt_ms(km)), min(km, HALF_EQUATOR_KM), rel_tol=1e-12, abs_tol=1e-9)
