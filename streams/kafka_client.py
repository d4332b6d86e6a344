"""Kafka connection settings from the config, for kafka-python, aiokafka and Faust; secrets resolved here."""

from __future__ import annotations

from typing import Any

from telltales.schemas.config import KafkaConfig, resolve_secret


def kafka_python_kwargs(cfg: KafkaConfig) -> dict[str, Any]:
    """Keyword arguments for kafka-python clients (admin, producer, consumer)."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": cfg.bootstrap_servers.split(","),
        "client_id": cfg.client_id,
        "security_protocol": cfg.security_protocol,
    }
    if cfg.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        kwargs["sasl_mechanism"] = cfg.sasl_mechanism or "PLAIN"
        kwargs["sasl_plain_username"] = cfg.sasl_username
        kwargs["sasl_plain_password"] = resolve_secret(cfg.sasl_password_env, cfg.sasl_password_file,
                                                       what="kafka.sasl_password")
    if cfg.security_protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_cafile"] = cfg.ssl_cafile
        kwargs["ssl_certfile"] = cfg.ssl_certfile
        kwargs["ssl_keyfile"] = cfg.ssl_keyfile
        kwargs["ssl_password"] = resolve_secret(cfg.ssl_key_password_env, cfg.ssl_key_password_file,
                                                what="kafka.ssl_key_password")
    return kwargs
