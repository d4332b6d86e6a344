"""The organisation config: defaults from nothing, every problem named by its key, secrets kept out of the TOML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from telltales.schemas.config import Config, ConfigError, load, parse, resolve_secret


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return str(caught.value)


def test_empty_text_gives_every_default() -> None:
    config = parse("")
    assert config == Config() == parse(b"") == load(None)
    assert config.topics.telemetry() == {"telemetry.vpn": "vpn_login", "telemetry.remote_access": "remote_session",
                                         "telemetry.device": "device_snapshot"}
    assert (config.topics.employees, config.topics.alerts, config.topics.dlq) == (
        "directory.employees", "siem.alerts", "telltales.dlq")
    assert config.decode.max_event_bytes == 1024 * 1024
    assert config.dlq.max_original_bytes == 64 * 1024
    assert config.kafka.security_protocol == "PLAINTEXT"
    assert (config.vantage_points, config.detectors, config.networks.office) == ({}, {}, [])


def test_a_full_section_overrides_only_what_it_names() -> None:
    config = parse("""
        [topics]
        vpn = "acme.vpn"
        partitions = 24

        [vantage_points.vp-chicago]
        lat = 41.88
        lon = -87.63
        name = "Chicago VPN gateway"

        [networks]
        office = ["198.51.100.0/24", "2001:db8:100::/48"]

        [allowlists]
        ips = ["203.0.113.7"]

        [detectors.ip_kvm]
        mode = "shadow"
        weight = 40
        params = { vendor_ids = ["1d6b"], min_count = 1 }
    """)
    assert (config.topics.vpn, config.topics.partitions, config.topics.device) == ("acme.vpn", 24, "telemetry.device")
    assert config.vantage_points["vp-chicago"].name == "Chicago VPN gateway"
    assert config.detectors["ip_kvm"].mode == "shadow"
    assert config.detectors["ip_kvm"].params == {"vendor_ids": ["1d6b"], "min_count": 1}
    assert config.detectors["ip_kvm"].enabled


@pytest.mark.parametrize(("text", "key"), [
    ("brokers = 'x'", "brokers"),
    ("[kafka]\nbootstrap = 'x'", "kafka.bootstrap"),
    ("[fusion]\nhalf_life = 12", "fusion.half_life"),
    ("[worker.extra]\na = 1", "worker.extra"),
    ("[vantage_points.vp-chicago]\nlat = 41.8\nlon = -87.6\nelevation = 180", "vantage_points.vp-chicago.elevation"),
    ("[detectors.ip_kvm]\nenabled = true\nthreshold = 3", "detectors.ip_kvm.threshold"),
])
def test_unknown_key_is_named(text: str, key: str) -> None:
    assert refused(text) == f"config: unknown key `{key}`"


@pytest.mark.parametrize(("text", "message"), [
    ("[topics]\npartitions = 0", "bad value for `topics.partitions`: Expected `int` >= 1"),
    ("[topics]\nvpn = 5", "bad value for `topics.vpn`: Expected `str`, got `int`"),
    ("[kafka]\nsecurity_protocol = 'TLS'", "bad value for `kafka.security_protocol`: Invalid enum value 'TLS'"),
    ("[fusion]\nhalf_life_hours = -1", "bad value for `fusion.half_life_hours`: Expected `float` > 0.0"),
    ("[decode]\nmax_event_bytes = 'big'", "bad value for `decode.max_event_bytes`: Expected `int`, got `str`"),
    ("[decode]\nmax_event_bytes = 100", "bad value for `decode.max_event_bytes`: Expected `int` >= 1024"),
    ("kafka = 5", "bad value for `kafka`: Expected `object`, got `int`"),
    ("[vantage_points.vp-seoul]\nlat = 91\nlon = 127.0", "bad value for `vantage_points.vp-seoul.lat`: Expected `float` <= 90.0"),
    ("[detectors.ip_kvm]\nmode = 'loud'", "bad value for `detectors.ip_kvm.mode`: Invalid enum value 'loud'"),
])
def test_bad_value_is_named(text: str, message: str) -> None:
    assert refused(text) == f"config: {message}"


def test_missing_required_key_of_a_vantage_point_is_named() -> None:
    message = refused("[vantage_points.vp-dallas]\nlon = -96.8")
    assert message.startswith("config: bad value for `vantage_points.vp-dallas`")
    assert "`lat`" in message


@pytest.mark.parametrize(("text", "message"), [
    ("[networks]\noffice = ['10.0.0.0/33']", "bad value for `networks`: office[0] '10.0.0.0/33' is not a CIDR network"),
    ("[networks]\nvpn_egress = ['198.51.100.0/24', 'vpn.example.com']",
     "bad value for `networks`: vpn_egress[1] 'vpn.example.com' is not a CIDR network"),
    ("[allowlists]\nips = ['203.0.113.0/24', '203.0.113.0/-1']",
     "bad value for `allowlists`: ips[1] '203.0.113.0/-1' is not a CIDR network"),
])
def test_bad_cidr_is_named(text: str, message: str) -> None:
    assert refused(text) == f"config: {message}"


def test_host_bits_in_a_cidr_are_tolerated() -> None:
    assert parse("[networks]\noffice = ['198.51.100.7/24']").networks.office == ["198.51.100.7/24"]


def test_not_toml() -> None:
    assert refused("[kafka\n").startswith("config: not valid TOML: ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse(b"\xff\xfe")


def test_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "telltales.toml"
    path.write_text("[topics]\npartitionz = 3\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: unknown key `topics\.partitionz`$"):
        load(path)
    with pytest.raises(ConfigError, match="cannot read config .*missing.toml: No such file or directory"):
        load(tmp_path / "missing.toml")


# --- secrets --------------------------------------------------------------------------------

def test_secret_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELLTALES_TEST_SASL_PASSWORD", "s3cret")
    assert resolve_secret("TELLTALES_TEST_SASL_PASSWORD", None, what="kafka.sasl_password") == "s3cret"


def test_secret_from_file_is_stripped(tmp_path: Path) -> None:
    secret = tmp_path / "sasl_password"
    secret.write_text("s3cret\n")
    assert resolve_secret(None, str(secret), what="kafka.sasl_password") == "s3cret"


def test_no_secret_configured() -> None:
    assert resolve_secret(None, None, what="kafka.sasl_password") is None


def test_secret_from_both_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELLTALES_TEST_SASL_PASSWORD", "s3cret")
    with pytest.raises(ConfigError) as caught:
        resolve_secret("TELLTALES_TEST_SASL_PASSWORD", str(tmp_path / "p"), what="kafka.sasl_password")
    assert str(caught.value) == "kafka.sasl_password: set either the _env or the _file key, not both"


def test_missing_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELLTALES_TEST_UNSET", raising=False)
    with pytest.raises(ConfigError) as caught:
        resolve_secret("TELLTALES_TEST_UNSET", None, what="kafka.sasl_password")
    assert str(caught.value) == "kafka.sasl_password: environment variable TELLTALES_TEST_UNSET is not set"


def test_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^kafka.ssl_key_password: cannot read secret file .*nope: No such file"):
        resolve_secret(None, str(tmp_path / "nope"), what="kafka.ssl_key_password")


def test_config_holds_only_the_names_of_secrets() -> None:
    config = parse("[kafka]\nsasl_password_env = 'KAFKA_PASSWORD'\nsasl_password_file = '/run/secrets/kafka'")
    assert (config.kafka.sasl_password_env, config.kafka.sasl_password_file) == ("KAFKA_PASSWORD", "/run/secrets/kafka")
    assert "unknown key `kafka.sasl_password`" in refused("[kafka]\nsasl_password = 's3cret'")
