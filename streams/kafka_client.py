"""Kafka connection settings from the config, for kafka-python, aiokafka and Faust; secrets resolved here.

One `ssl.SSLContext` serves every client, so the admin client, the producers of the
tests and the Faust worker verify the broker, and present a client certificate, alike.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from telltales.schemas.config import ConfigError, KafkaConfig, resolve_secret

SASL: tuple[str, ...] = ("SASL_PLAINTEXT", "SASL_SSL")
TLS: tuple[str, ...] = ("SSL", "SASL_SSL")


def kafka_python_kwargs(cfg: KafkaConfig) -> dict[str, Any]:
    """Keyword arguments for kafka-python clients (admin, producer, consumer)."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": cfg.bootstrap_servers.split(","),
        "client_id": cfg.client_id,
        "security_protocol": cfg.security_protocol,
    }
    if cfg.security_protocol in SASL:
        username, password = sasl_login(cfg)
        kwargs.update(sasl_mechanism=cfg.sasl_mechanism or "PLAIN", sasl_plain_username=username,
                      sasl_plain_password=password)
    if cfg.security_protocol in TLS:
        kwargs["ssl_context"] = ssl_context(cfg)
    return kwargs


class KafkaUnavailable(RuntimeError):
    """No admin connection to Kafka; the message says why in one line (unreachable, login or TLS refused)."""


def admin_client(cfg: KafkaConfig, *, timeout_s: float, bootstrap_timeout_s: float) -> Any:
    """A kafka-python admin client, or `KafkaUnavailable` saying why there is none."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    try:
        return KafkaAdminClient(**kafka_python_kwargs(cfg), request_timeout_ms=int(timeout_s * 1000),
                                bootstrap_timeout_ms=int(bootstrap_timeout_s * 1000))
    except (KafkaTimeoutError, KafkaConnectionError):
        raise unavailable(cfg) from None


def unavailable(cfg: KafkaConfig) -> KafkaUnavailable:
    """The one-line error for a client that got no connection: the broker's refusal, or that none answered."""
    refusal = refused_because(cfg)
    if refusal is not None:
        return KafkaUnavailable(f"Kafka at {cfg.bootstrap_servers} refused the connection: {refusal}")
    return KafkaUnavailable(f"cannot reach Kafka at {cfg.bootstrap_servers} (no broker answered)")


def refused_because(cfg: KafkaConfig) -> str | None:
    """Why the broker refuses these settings (SASL login, TLS handshake), or None if it did not answer at all.

    kafka-python reports a refusal only in its log, and not always (it may see the broker
    close the connection before it reads the SASL error), then times out as if no broker
    answered. aiokafka — the worker's own client — reads the refusal reliably and logs it;
    one bootstrap with it, its log read here, says which it is.
    """
    import asyncio

    from aiokafka import AIOKafkaClient
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    async def bootstrap() -> None:
        client = AIOKafkaClient(bootstrap_servers=cfg.bootstrap_servers.split(","), client_id=cfg.client_id,
                                **credentials_to_aiokafka_auth(faust_credentials(cfg)))
        try:
            await client.bootstrap()
        finally:
            await client.close()

    refusals = _Refusals()
    aiokafka_log = logging.getLogger("aiokafka")
    aiokafka_log.addHandler(refusals)
    try:
        asyncio.run(asyncio.wait_for(bootstrap(), 10.0))
    except Exception:  # noqa: BLE001 — only the logged reason matters
        pass
    finally:
        aiokafka_log.removeHandler(refusals)
    return refusals.last


class _Refusals(logging.Handler):
    """Keeps the last refused SASL login or TLS handshake a Kafka client logged."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        for arg in record.args if isinstance(record.args, tuple) else ():
            if type(arg).__name__.startswith("SaslAuthenticationFailed"):  # aiokafka's and kafka-python's
                self.last = f"SASL login failed ({arg})"
            elif isinstance(arg, ssl.SSLError):
                self.last = f"TLS handshake failed ({arg})"


def faust_credentials(cfg: KafkaConfig) -> Any:
    """Faust's `broker_credentials` for the config (None for PLAINTEXT); Faust hands them to aiokafka."""
    import faust

    if cfg.security_protocol in SASL:
        username, password = sasl_login(cfg)
        context = ssl_context(cfg) if cfg.security_protocol in TLS else None
        return faust.SASLCredentials(username=username, password=password, mechanism=cfg.sasl_mechanism or "PLAIN",
                                     ssl_context=context)
    if cfg.security_protocol in TLS:
        return faust.SSLCredentials(ssl_context(cfg))
    return None


def sasl_login(cfg: KafkaConfig) -> tuple[str, str]:
    """The SASL user name and password (from the environment variable or file the config names)."""
    password = resolve_secret(cfg.sasl_password_env, cfg.sasl_password_file, what="kafka.sasl_password")
    if not cfg.sasl_username or password is None:
        raise ConfigError(f"kafka.security_protocol = {cfg.security_protocol} needs kafka.sasl_username and "
                          "kafka.sasl_password_env or kafka.sasl_password_file")
    return cfg.sasl_username, password


def ssl_context(cfg: KafkaConfig) -> ssl.SSLContext:
    """Verify the broker against `ssl_cafile` (the system CAs when unset), host name included; present
    `ssl_certfile`/`ssl_keyfile` when set (mutual TLS)."""
    if cfg.ssl_keyfile and not cfg.ssl_certfile:
        raise ConfigError("kafka.ssl_keyfile is set without kafka.ssl_certfile")
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cfg.ssl_cafile)
    except OSError as exc:  # FileNotFoundError, ssl.SSLError (not PEM)
        raise ConfigError(f"kafka.ssl_cafile: cannot load {cfg.ssl_cafile}: {exc.strerror or exc}") from None
    if cfg.ssl_certfile:
        password = resolve_secret(cfg.ssl_key_password_env, cfg.ssl_key_password_file, what="kafka.ssl_key_password")
        try:
            context.load_cert_chain(cfg.ssl_certfile, cfg.ssl_keyfile, password=password)
        except OSError as exc:
            hint = " (is kafka.ssl_key_password right?)" if isinstance(exc, ssl.SSLError) else ""
            raise ConfigError(f"kafka.ssl_certfile / ssl_keyfile: cannot load {cfg.ssl_certfile}"
                              f"{f' with {cfg.ssl_keyfile}' if cfg.ssl_keyfile else ''}: "
                              f"{exc.strerror or exc}{hint}") from None
    return context
