"""locale_timezone: device clock and input languages versus the claimed home, tolerant of travel."""

from __future__ import annotations

import ipaddress

import pytest

from builders import CHICAGO, LONDON, SEOUL, device, employee, geo, home_employee, vpn
from telltales.detectors.base import Context, Org
from telltales.detectors.locale_timezone import LocaleTimezone

ORG = Org(vpn_egress_networks=(ipaddress.ip_network("192.0.2.0/24"),))
CHICAGOAN = home_employee("e1", CHICAGO)


def feed(events, who=CHICAGOAN):
    detector = LocaleTimezone(ORG)
    state = detector.initial_state()
    signals = []
    for event in events:
        state, raised = detector.observe(event, state, Context(org=ORG, employee=who))
        signals.extend(raised)
    return state, signals


def clock(zone, start=0.0, **fields):
    """Two snapshots 90 minutes apart on one clock: a mismatch must persist an hour to count."""
    return [device("e1", start, timezone=zone, **fields), device("e1", start + 1.5, timezone=zone, **fields)]


def test_device_clock_on_seoul_time_for_a_chicago_home():
    _, [s] = feed(clock("Asia/Seoul"))  # the first snapshot waits for confirmation
    assert s.score == 1.0  # 15 h apart = 9 h on the dial ≥ 8 h
    assert s.data["device_offset_h"] == 9.0 and s.data["home_offset_h"] == -6.0 and s.data["offset_difference_h"] == 9.0
    assert s.data["unexplained_for_h"] == 1.5 and "Asia/Seoul" in s.summary


@pytest.mark.parametrize("zone, expected", [
    ("America/Chicago", None), ("America/Detroit", None), ("America/Denver", None),  # ≤ 1 h: nothing
    ("America/Los_Angeles", 0.3), ("UTC", None), ("Etc/UTC", None), ("Mars/Olympus_Mons", None),
])
def test_small_offsets_uninformative_and_unknown_zones_are_quiet(zone, expected):
    _, signals = feed(clock(zone))
    assert (signals[0].score if signals else None) == (pytest.approx(expected) if expected else None)


def test_offsets_are_compared_on_the_24_hour_dial():
    kiribati = home_employee("e1", CHICAGO, tz="Pacific/Kiritimati")  # UTC+14
    assert feed(clock("Pacific/Honolulu"), who=kiribati)[1] == []  # UTC−10: same wall clock


def test_a_traveller_whose_latest_login_is_where_the_clock_is_right_is_not_a_tell():
    assert feed([vpn("e1", 0, "203.0.113.9", geo=geo(LONDON))] + clock("Europe/London", 2))[1] == []
    # The login geolocated at home does not explain a London clock; nor does a login from weeks ago,
    # a consumer VPN exit or the company's own VPN egress.
    assert feed([vpn("e1", 0, "203.0.113.9", geo=geo(CHICAGO))] + clock("Europe/London", 2))[1]
    assert feed([vpn("e1", 0, "203.0.113.9", geo=geo(LONDON))] + clock("Europe/London", 24 * 8))[1]
    assert feed([vpn("e1", 0, "203.0.113.9", geo=geo(LONDON), anonymizer={"type": "vpn"})]
                + clock("Europe/London", 2))[1]
    assert feed([vpn("e1", 0, "192.0.2.7", geo=geo(LONDON))] + clock("Europe/London", 2))[1]


def test_a_laptop_that_changes_clock_before_the_first_login_abroad_is_not_a_tell():
    trip = [vpn("e1", 0, "203.0.113.9", geo=geo(CHICAGO)), device("e1", 10, timezone="Europe/London"),
            vpn("e1", 10.05, "203.0.113.77", geo=geo(LONDON)), device("e1", 11.5, timezone="Europe/London")]
    state, signals = feed(trip)
    assert signals == [] and state.pend == 0


def test_late_snapshots_judge_no_clock():
    detector = LocaleTimezone(ORG)
    state = detector.initial_state()
    for event in clock("Asia/Seoul"):
        state, raised = detector.observe(event, state, Context(org=ORG, employee=CHICAGOAN, late=True))
        assert raised == []
    assert state.pend == 0


def test_korean_input_settings_for_a_us_home_are_a_weak_tell():
    _, [layout] = feed([device("e1", 0, keyboard_layouts=["com.apple.keylayout.US", "com.apple.inputmethod.Korean.2SetKorean"])])
    assert layout.score == pytest.approx(0.45) and layout.data["languages"] == ["Korean"]
    _, [locale] = feed([device("e1", 0, locale="ko_KR.UTF-8")])
    assert locale.score == pytest.approx(0.6)
    _, [windows] = feed([device("e1", 0, keyboard_layouts=["00000409", "00000412"])])
    assert windows.data["languages"] == ["Korean"]


def test_chinese_and_russian_hints_and_their_combination():
    _, [s] = feed([device("e1", 0, keyboard_layouts=["com.apple.inputmethod.SCIM.ITABC", "ru"])])
    assert s.data["languages"] == ["Chinese", "Russian"] and s.score == pytest.approx(1 - 0.7 * 0.7)


def test_everything_together_scores_full_and_says_both():
    _, [first, second] = feed(clock("Asia/Seoul", locale="ko-KR", keyboard_layouts=["2-Set Korean"]))
    assert first.score == pytest.approx(0.6) and "Asia/Seoul" not in first.summary  # language at once
    assert second.score == 1.0 and "Korean" in second.summary and "Asia/Seoul" in second.summary


def test_languages_spoken_at_the_claimed_home_and_ordinary_layouts_are_quiet():
    seoulite = home_employee("e1", SEOUL, tz="Asia/Seoul")
    assert feed([device("e1", 0, timezone="Asia/Seoul", locale="ko-KR", keyboard_layouts=["2SetKorean"])],
                who=seoulite)[1] == []
    ordinary = ["com.apple.keylayout.US", "com.apple.keylayout.British", "com.apple.keylayout.Brazilian-ABNT2",
                "com.apple.keylayout.Spanish-ISO", "de", "fr", "00000409", "Truetype Russ"]
    assert feed([device("e1", 0, locale="en_US.UTF-8", keyboard_layouts=ordinary)])[1] == []


def test_without_a_directory_record_or_its_fields_it_stays_quiet():
    assert feed([device("e1", 0, timezone="Asia/Seoul", locale="ko-KR")], who=None)[1] == []
    bare = employee("e1")  # no home, no time zone
    assert feed([device("e1", 0, timezone="Asia/Seoul", locale="ko-KR")], who=bare)[1] == []
    country_only = employee("e1", home={"country": "US"})
    _, [s] = feed([device("e1", 0, timezone="Asia/Seoul", locale="ko-KR")], who=country_only)
    assert "device_timezone" not in s.data and s.data["languages"] == ["Korean"]


def test_late_logins_do_not_replace_a_newer_location():
    detector = LocaleTimezone(ORG)
    state, _ = detector.observe(vpn("e1", 5, "203.0.113.9", geo=geo(LONDON)), detector.initial_state(),
                                Context(org=ORG, employee=CHICAGOAN))
    older, _ = detector.observe(vpn("e1", 1, "203.0.113.9", geo=geo(SEOUL)), state,
                                Context(org=ORG, employee=CHICAGOAN))
    assert older is state and state.loc[0] == -13


def test_clock_and_language_name_the_place_they_point_at_for_fusion():
    _, [language, both] = feed(clock("Asia/Seoul", keyboard_layouts=["2-Set Korean"]))
    assert language.data["places"] == [["input_language", 9.0, 0.5]]
    assert both.data["places"] == [["device_clock", 9.0, 0.5], ["input_language", 9.0, 0.5]]
    _, [chinese] = feed([device("e1", 0, keyboard_layouts=["com.apple.inputmethod.SCIM.ITABC"])])
    assert chinese.data["places"] == [["input_language", 8.0, 0.5]]
    # Russian is spoken across eleven time zones: no place.
    _, [russian] = feed([device("e1", 0, keyboard_layouts=["ru"])])
    assert "places" not in russian.data


def test_a_travellers_clock_names_no_place():
    # Explained by a login where the clock is right: no signal, so nothing for fusion to agree with.
    assert feed([vpn("e1", 0, "203.0.113.9", geo=geo(SEOUL))] + clock("Asia/Seoul", 2))[1] == []
