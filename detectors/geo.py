"""Physics and geography shared by the simulator and the detectors: great-circle distance and the fibre bound.

Light in optical fibre covers about 200 km per millisecond one way (c divided by a
refractive index of about 1.47), so a round trip of R ms cannot have crossed more than
R × 100 km of ground between the two ends. Every bound here is a hard physical limit;
real routes are longer than great circles (route inflation 1.2–2.0 is typical) and add
access and queueing delay, so measurements sit above these bounds, never below.

Pure functions over floats: no I/O, no clocks.
"""

from __future__ import annotations

import math
from typing import Final

EARTH_RADIUS_KM: Final = 6371.0088
"""Mean Earth radius (IUGG), km."""

FIBRE_KM_PER_MS: Final = 200.0
"""Distance light covers in fibre in one millisecond, one way, km."""

KM_PER_RTT_MS: Final = FIBRE_KM_PER_MS / 2
"""Ground distance one millisecond of round-trip time can cover at most, km (= 100)."""

HALF_EQUATOR_KM: Final = math.pi * EARTH_RADIUS_KM
"""The largest great-circle distance between two points on Earth, km."""


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points given in degrees, km.

    Parameters
    ----------
    lat1, lon1, lat2, lon2
        WGS 84 latitude and longitude of the two points, degrees.

    Returns
    -------
    float
        Distance along the sphere's surface, km (0 to about 20,015).

    Examples
    --------
    New York City to London is about 5,570 km:

    >>> round(haversine_km(40.7128, -74.0060, 51.5074, -0.1278))
    5570
    >>> haversine_km(10.0, 20.0, 10.0, 20.0)
    0.0
    """
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def min_rtt_ms(distance_km: float) -> float:
    """The smallest round-trip time physics allows over a ground distance, ms.

    Parameters
    ----------
    distance_km
        Great-circle distance between the two ends, km.

    Returns
    -------
    float
        ``distance_km / 100``: the round trip at the speed of light in fibre along the
        great circle. Any real measurement is at least this.

    Examples
    --------
    >>> min_rtt_ms(5570.0)
    55.7
    >>> min_rtt_ms(0.0)
    0.0
    """
    return distance_km / KM_PER_RTT_MS


def max_distance_km(rtt_ms: float) -> float:
    """The farthest a device can be from a vantage point, given a round trip measured between them, km.

    Parameters
    ----------
    rtt_ms
        Minimum measured round-trip time, ms.

    Returns
    -------
    float
        ``rtt_ms × 100``, capped at half the Earth's circumference (beyond that every
        place on Earth is allowed).

    Examples
    --------
    A 20 ms round trip puts the device within 2,000 km of the vantage point:

    >>> max_distance_km(20.0)
    2000.0
    >>> max_distance_km(500.0) == HALF_EQUATOR_KM
    True
    """
    return min(rtt_ms * KM_PER_RTT_MS, HALF_EQUATOR_KM)


def fibre_slack_km(distance_km: float, rtt_ms: float) -> float:
    """How far a claimed location sits inside (positive) or outside (negative) the region an RTT allows, km.

    Parameters
    ----------
    distance_km
        Distance from the vantage point to the claimed location, km.
    rtt_ms
        Minimum round-trip time measured from the device to that vantage point, ms.

    Returns
    -------
    float
        ``max_distance_km(rtt_ms) - distance_km``. Negative means the claim is
        physically impossible: the device answered faster than light could travel from
        the claimed place, and the value says by how many km the claim misses.

    Examples
    --------
    A device 8 ms from a vantage point in Virginia cannot be in Dallas (about 1,880 km away):

    >>> round(fibre_slack_km(1880.0, 8.0))
    -1080
    >>> fibre_slack_km(300.0, 8.0)
    500.0
    """
    return max_distance_km(rtt_ms) - distance_km


def travel_speed_kmh(distance_km: float, seconds: float) -> float:
    """Average ground speed needed to cover a distance in a time, km/h; infinite for no time.

    Parameters
    ----------
    distance_km
        Distance covered, km.
    seconds
        Time available, seconds.

    Returns
    -------
    float
        Speed in km/h; ``math.inf`` when ``seconds`` ≤ 0 and the distance is positive,
        0.0 when the distance is 0.

    Examples
    --------
    New York to London in 7 hours needs about 796 km/h (an airliner):

    >>> round(travel_speed_kmh(5570.0, 7 * 3600))
    796
    >>> travel_speed_kmh(10.0, 0.0)
    inf
    """
    if distance_km <= 0:
        return 0.0
    if seconds <= 0:
        return math.inf
    return distance_km / (seconds / 3600.0)
