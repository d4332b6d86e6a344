"""Operating the worker: its `/health` page (the probes of deploy/k8s and the Dockerfile)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from telltales.streams import version
from telltales.streams.topics import create_topics
from telltales.streams.worker import Worker
from test_worker import PARTITIONS, RunningWorker, as_kafka, line, produce, wait_drained, worker_config

HEALTH_TIMEOUT_S = 60.0


def get_health(port: int) -> tuple[int, dict] | None:
    """(HTTP status, JSON body) of GET /health, or None while nothing answers on the port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except (urllib.error.URLError, ConnectionError):
        return None


def free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports nothing listens on."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def with_ports(config_text: str, web_port: int, metrics_port: int) -> str:
    return config_text.replace("[worker]\n", f"[worker]\nweb_port = {web_port}\nmetrics_port = {metrics_port}\n")


def test_health_is_503_before_the_worker_has_started(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Faust makes worker.data_dir (relative) as soon as it reads its settings
    _, config = worker_config("127.0.0.1:9", "unstarted.")
    body, ready = Worker(config, web=True).health()
    assert not ready
    assert body == {"status": "starting", "version": version(), "partitions": 0, "recovered": False}


@pytest.mark.kafka
def test_health_says_ok_with_the_assigned_partitions_once_the_worker_consumes(kafka_bootstrap, topic_prefix,
                                                                              tmp_path):
    text, config = worker_config(kafka_bootstrap, topic_prefix)
    web_port, metrics_port = free_ports(2)
    text = with_ports(text, web_port, metrics_port)
    create_topics(config)
    produce(config, as_kafka([line("vpn_login", "emp-1", 0, src_ip="24.12.7.1")]))
    worker = RunningWorker(tmp_path, text, web=True)
    answers = []
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            assert worker.proc.poll() is None, worker.output()[-4000:]
            answer = get_health(web_port)
            if answer is not None:
                answers.append(answer)
                if answer[0] == 200 and answer[1]["status"] == "ok":
                    break
            time.sleep(0.05)
        wait_drained(config, worker)
        final = get_health(web_port)
    finally:
        code = worker.stop()
    assert code == 0, worker.output()[-4000:]
    assert answers and answers[-1][0] == 200, answers
    # Whatever answered before it was ready said so with a 503; a 200 is only ever "ok" or "recovering".
    for status, body in answers:
        assert (status, body["status"] in ("ok", "recovering")) in ((200, True), (503, False)), answers
    assert final == (200, {"status": "ok", "version": version(), "partitions": PARTITIONS, "recovered": True})
