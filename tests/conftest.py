"""Session fixtures: one real Apache Kafka broker for the whole test run, started on first use.

Set KAFKA_BOOTSTRAP_SERVERS to use a broker you run yourself; otherwise the project's
own single-node KRaft broker (deploy/kafka) is started once and always stopped.
"""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture(scope="session")
def kafka_bootstrap():
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    from telltales.streams.localkafka import LocalKafka

    broker = LocalKafka()
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    """A unique prefix so tests sharing the session broker never see each other's topics."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
