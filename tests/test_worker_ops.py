"""Operating the worker: its `/health` page (the probes of deploy/k8s and the Dockerfile), and its Kafka
credentials (SASL PLAIN and SCRAM, mutual TLS) from the config, against a broker that requires them."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import msgspec
import pytest

from builders import CHICAGO, SEOUL, geo
from telltales.streams import version
from telltales.streams.cli import main
from telltales.streams.localkafka import LocalKafka, ServerTls
from telltales.streams.topics import create_topics
from telltales.streams.worker import Worker
from test_worker import (KVM, PARTITIONS, RunningWorker, as_kafka, line, produce, read_topic, wait_drained,
                         worker_config)

HEALTH_TIMEOUT_S = 60.0


def get_health(port: int) -> tuple[int, dict] | None:
    """(HTTP status, JSON body) of GET /health, or None while nothing answers on the port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:  # not the health page's JSON: the assertions show what it was
            return exc.code, {"status": None, "body": body.decode(errors="replace")}
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


@pytest.mark.parametrize("configured", [None, 250])
def test_the_consumer_takes_the_configured_fetch_wait_not_fausts_fixed_1500_ms(tmp_path, monkeypatch, configured):
    import asyncio

    monkeypatch.chdir(tmp_path)
    _, config = worker_config("127.0.0.1:9", "fetchwait.")
    if configured is not None:
        config = msgspec.structs.replace(config, worker=msgspec.structs.replace(config.worker,
                                                                               fetch_max_wait_ms=configured))
    app = Worker(config, web=False).app

    async def fetch_wait() -> int:  # aiokafka builds its consumer in a running loop; nothing connects before start()
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        await consumer.stop()
        return consumer._fetch_max_wait_ms

    assert asyncio.run(fetch_wait()) == (configured or 100)


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


# --- Kafka credentials: SASL (PLAIN, SCRAM) and TLS from the config -------------------------------

SASL_USER, SASL_PASSWORD = "telltales", "right-Password-1"
KEY_PASSWORD = "client-key-pw"


def openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def make_pki(root: Path, name: str) -> None:
    """A throwaway CA `name`, a broker certificate for 127.0.0.1 in a PKCS12 key store, and a client
    certificate whose key is encrypted with KEY_PASSWORD."""
    root.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", f"/CN={name}", cwd=root)
    for who, subject, extension in (("broker", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1"),
                                    ("client", f"/CN={SASL_USER}", "extendedKeyUsage=clientAuth")):
        key_options = ["-passout", f"pass:{KEY_PASSWORD}"] if who == "client" else ["-nodes"]
        openssl("req", "-newkey", "rsa:2048", *key_options, "-keyout", f"{who}.key", "-out", f"{who}.csr",
                "-subj", subject, cwd=root)
        (root / f"{who}.ext").write_text(extension + "\n", "utf-8")
        openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{who}.pem", "-days", "2", "-extfile", f"{who}.ext", cwd=root)
    openssl("pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile", "ca.pem",
            "-out", "broker.p12", "-passout", "pass:broker-store-pw", cwd=root)


@pytest.fixture(scope="module")
def secured_kafka(tmp_path_factory):
    """A broker of its own with PLAINTEXT (for the test's own clients), SASL_PLAINTEXT and mutual-TLS listeners."""
    pki = tmp_path_factory.mktemp("pki")
    make_pki(pki / "good", "telltales-test-ca")
    make_pki(pki / "other", "some-other-ca")
    broker = LocalKafka(sasl_users={SASL_USER: SASL_PASSWORD},
                        tls=ServerTls(pki / "good" / "broker.p12", "broker-store-pw", truststore=pki / "good" / "ca.pem"))
    broker.start()
    try:
        yield broker, pki
    finally:
        broker.stop()


def secured_config(tmp_path: Path, broker: LocalKafka, prefix: str, kafka: str) -> tuple[Path, object]:
    """A config file whose [kafka] section is `kafka` (over SASL or TLS) and a PLAINTEXT twin for the test's checks."""
    text, plain = worker_config(broker.bootstrap, prefix)
    path = tmp_path / "secured.toml"
    path.write_text(text.replace(f'[kafka]\nbootstrap_servers = "{broker.bootstrap}"\n', f"[kafka]\n{kafka}\n"),
                    "utf-8")
    return path, plain


def sasl_kafka(broker: LocalKafka, mechanism: str, password_file: Path, ca: Path | None = None) -> str:
    """SASL_PLAINTEXT, or SASL_SSL verifying the broker against `ca`."""
    protocol, bootstrap = ("SASL_SSL", broker.sasl_ssl_bootstrap) if ca else ("SASL_PLAINTEXT", broker.sasl_bootstrap)
    return (f'bootstrap_servers = "{bootstrap}"\nsecurity_protocol = "{protocol}"\n'
            f'sasl_mechanism = "{mechanism}"\nsasl_username = "{SASL_USER}"\nsasl_password_file = "{password_file}"'
            + (f'\nssl_cafile = "{ca}"' if ca else ""))


def tls_kafka(broker: LocalKafka, pki: Path, ca: str = "good") -> str:
    return (f'bootstrap_servers = "{broker.ssl_bootstrap}"\nsecurity_protocol = "SSL"\n'
            f'ssl_cafile = "{pki / ca / "ca.pem"}"\nssl_certfile = "{pki / "good" / "client.pem"}"\n'
            f'ssl_keyfile = "{pki / "good" / "client.key"}"\nssl_key_password_env = "TELLTALES_TEST_KEY_PASSWORD"')


def run_secured_worker(tmp_path: Path, path: Path, plain) -> list[dict]:
    """`topics create` and a worker with the secured config; returns the findings (read over PLAINTEXT)."""
    assert main(["topics", "create", "--config", str(path)]) == 0
    home = {k: CHICAGO[k] for k in ("city", "country", "lat", "lon")}
    produce(plain, as_kafka([line("employee", "emp-1", home=home, timezone="America/Chicago"),
                             line("device_snapshot", "emp-1", 1, usb_devices=[KVM]),
                             line("vpn_login", "emp-1", 2, src_ip="211.45.1.9", geo=geo(SEOUL))]))
    worker = RunningWorker(tmp_path, path.read_text("utf-8"))
    try:
        wait_drained(plain, worker)
    finally:
        code = worker.stop()
    assert code == 0, worker.output()[-4000:]
    return [json.loads(r.value) for r in read_topic(plain.kafka.bootstrap_servers, plain.topics.alerts)]


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_topics_create_and_the_worker_log_in_with_sasl(secured_kafka, topic_prefix, tmp_path, mechanism):
    broker, _ = secured_kafka
    secret = tmp_path / "kafka-password"
    secret.write_text(SASL_PASSWORD + "\n", "utf-8")  # a mounted Secret often ends with a newline
    path, plain = secured_config(tmp_path, broker, topic_prefix, sasl_kafka(broker, mechanism, secret))
    findings = run_secured_worker(tmp_path, path, plain)
    assert [f["actor"]["user"]["uid"] for f in findings] == ["emp-1"]


@pytest.mark.kafka
@pytest.mark.slow
def test_the_worker_logs_in_with_scram_over_tls_as_the_kubernetes_config_does(secured_kafka, topic_prefix, tmp_path):
    broker, pki = secured_kafka
    secret = tmp_path / "kafka-password"
    secret.write_text(SASL_PASSWORD, "utf-8")
    kafka = sasl_kafka(broker, "SCRAM-SHA-512", secret, ca=pki / "good" / "ca.pem")
    path, plain = secured_config(tmp_path, broker, topic_prefix, kafka)
    findings = run_secured_worker(tmp_path, path, plain)
    assert [f["actor"]["user"]["uid"] for f in findings] == ["emp-1"]


@pytest.mark.kafka
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_a_wrong_sasl_password_is_a_one_line_error(secured_kafka, topic_prefix, tmp_path, capsys, monkeypatch,
                                                   mechanism):
    monkeypatch.chdir(tmp_path)  # Faust makes worker.data_dir (relative) as soon as it reads its settings
    broker, _ = secured_kafka
    secret = tmp_path / "kafka-password"
    secret.write_text("wrong-password", "utf-8")
    path, _ = secured_config(tmp_path, broker, topic_prefix, sasl_kafka(broker, mechanism, secret))
    refused = f"Kafka at {broker.sasl_bootstrap} refused the connection: SASL login failed ("
    assert main(["topics", "create", "--config", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"telltales topics create: {refused}"), err
    assert "Authentication failed" in err[0]
    assert main(["worker", "--config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"telltales worker: {refused}"), err
    assert "Authentication failed" in err[0]


@pytest.mark.kafka
@pytest.mark.slow
def test_topics_create_and_the_worker_connect_over_mutual_tls(secured_kafka, topic_prefix, tmp_path, monkeypatch):
    broker, pki = secured_kafka
    monkeypatch.setenv("TELLTALES_TEST_KEY_PASSWORD", KEY_PASSWORD)  # the worker subprocess inherits it
    path, plain = secured_config(tmp_path, broker, topic_prefix, tls_kafka(broker, pki))
    findings = run_secured_worker(tmp_path, path, plain)
    assert [f["actor"]["user"]["uid"] for f in findings] == ["emp-1"]


@pytest.mark.kafka
def test_a_broker_certificate_from_another_ca_is_a_one_line_error(secured_kafka, topic_prefix, tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    broker, pki = secured_kafka
    monkeypatch.setenv("TELLTALES_TEST_KEY_PASSWORD", KEY_PASSWORD)
    path, _ = secured_config(tmp_path, broker, topic_prefix, tls_kafka(broker, pki, ca="other"))
    assert main(["worker", "--config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"telltales worker: Kafka at {broker.ssl_bootstrap} refused the connection: TLS handshake failed ("), err
    assert "CERTIFICATE_VERIFY_FAILED" in err[0]


def test_a_wrong_client_key_password_is_a_config_error(secured_kafka, topic_prefix, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    broker, pki = secured_kafka
    monkeypatch.setenv("TELLTALES_TEST_KEY_PASSWORD", "not-the-key-password")
    path, _ = secured_config(tmp_path, broker, topic_prefix, tls_kafka(broker, pki))
    assert main(["worker", "--config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    good = pki / "good"
    assert len(err) == 1 and err[0].startswith(f"telltales worker: kafka.ssl_certfile / ssl_keyfile: cannot load "
                                               f"{good / 'client.pem'} with {good / 'client.key'}: "), err
    assert err[0].endswith("(is kafka.ssl_key_password right?)"), err
