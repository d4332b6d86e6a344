"""A local single-node Apache Kafka (KRaft) that telltales fetches, starts and stops itself.

Used by the tests, the demo and developers; the pinned release and its settings live in
``deploy/kafka/`` (see its README). Pure standard library, Linux/macOS.

Library use::

    with LocalKafka() as kafka:          # fetch() if needed, start() on a free port
        produce_to(kafka.bootstrap)      # "127.0.0.1:PORT"
        kafka.restart()                  # same data dir and port; kafka.kill() for faults

    # Also a SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 for these users),
    # an SSL one (client certificates required when the trust store is given) and, with
    # both, a SASL_SSL one:
    LocalKafka(sasl_users={"telltales": "secret"}, tls=ServerTls(keystore, "pw", truststore=ca_pem))
    kafka.sasl_bootstrap, kafka.ssl_bootstrap, kafka.sasl_ssl_bootstrap

Command line (``start`` runs in the foreground, like ``kafka-server-start``; Ctrl-C or
SIGTERM stops the broker cleanly)::

    python -m telltales.streams.localkafka fetch
    python -m telltales.streams.localkafka start [--port N] [--data-dir D] [--fresh]
    python -m telltales.streams.localkafka status [--data-dir D]
    python -m telltales.streams.localkafka stop [--data-dir D]

``start`` prints ``bootstrap=127.0.0.1:PORT`` once the broker answers and records the
broker's pid and port in ``<data dir>/localkafka.json`` so ``status`` and ``stop`` can
be run from another shell. The command line keeps its data in ``<cache>/data`` so
topics survive a restart (``--fresh`` wipes them); the library uses a fresh temp dir.

Caches: ``$TELLTALES_CACHE/kafka-<version>`` if that variable is set, else
``$XDG_CACHE_HOME/telltales/kafka-<version>`` (``~/.cache/...``). Jars come from Maven
Central through ``mvn`` and the usual ``~/.m2``; ``java`` 17+ runs the broker.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import importlib.resources
import json
import os
import re
import shutil
import signal
import socket
import string
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LocalKafka", "LocalKafkaError", "ServerTls", "broker_ready", "default_cache_dir", "kafka_version",
           "port_is_free"]

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
# Small heap: the test machine has 2 cores and runs the tests beside the broker.
# SerialGC: one GC thread instead of G1's pool; pauses are irrelevant at this heap size.
JVM_OPTS = ("-Xmx512m", "-Xms64m", "-XX:+UseSerialGC", "-Djava.awt.headless=true")
BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
STATE_FILE = "localkafka.json"
LOG_FILE = "broker.log"  # written by log4j2 (see deploy/kafka/log4j2.properties)
OUT_FILE = "broker.out"  # the JVM's own stdout/stderr: crashes, class-path errors
NODE_ID = 1
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


class LocalKafkaError(RuntimeError):
    """The local broker could not be fetched, started or stopped; the message says what to do."""


@dataclass(frozen=True)
class ServerTls:
    """What an SSL listener needs: the broker's key and certificate chain, and whom to trust."""

    keystore: Path  # PKCS12: the broker's private key and certificate (its CN or SAN names 127.0.0.1)
    password: str  # of the key store and the key in it
    truststore: Path | None = None  # PEM CA certificates; given, clients must present a certificate they signed


# --- assets and caches -------------------------------------------------------


def _assets():
    """deploy/kafka as installed package data, or from the source tree when not installed."""
    try:
        assets = importlib.resources.files("telltales.deploy") / "kafka"
        if assets.joinpath("pom.xml").is_file():
            return assets
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / "deploy" / "kafka"


def _asset_text(name: str) -> str:
    return _assets().joinpath(name).read_text(encoding="utf-8")


def kafka_version() -> str:
    """The Kafka release pinned in deploy/kafka/pom.xml (the single place it is written)."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", _asset_text("pom.xml"))
    if not match:
        raise LocalKafkaError("deploy/kafka/pom.xml has no <kafka.version> property")
    return match.group(1).strip()


def default_cache_dir() -> Path:
    """Where the jars (and the command line's data dir) live; never inside the git tree."""
    root = os.environ.get("TELLTALES_CACHE")
    if root:
        base = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        base = Path(xdg).expanduser() / "telltales"
    return base / f"kafka-{kafka_version()}"


def _require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise LocalKafkaError(f"`{name}` not found on PATH: {hint}")
    return path


def _java() -> str:
    # JAVA_HOME wins, as with Kafka's own scripts.
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return _require_tool("java", "install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME")


# --- ports, ids, processes ---------------------------------------------------


def _free_port() -> int:
    # The OS picks; there is a small race until Kafka binds it, acceptable on loopback.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def _cluster_id() -> str:
    """A Kafka cluster id: a random UUID in URL-safe base64 without padding (as `random-uuid`)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # Kafka avoids a leading '-' because command-line parsers take it for an option.
        if not cid.startswith("-"):
            return cid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --- a minimal Kafka protocol probe -------------------------------------------
# "Port open" is not "broker ready": in KRaft the listener accepts connections before the
# broker has registered with the controller. A Metadata response that lists this node is
# what a client needs before it can create topics or produce.


def _request(api_key: int, api_version: int, correlation_id: int, body: bytes) -> bytes:
    client_id = b"telltales-localkafka"
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id)) + client_id
    return struct.pack(">i", len(header) + len(body)) + header + body


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return bytes(buf)


def _roundtrip(sock: socket.socket, request: bytes, correlation_id: int) -> memoryview:
    sock.sendall(request)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    payload = memoryview(_recv_exact(sock, size))
    (got,) = struct.unpack_from(">i", payload, 0)
    if got != correlation_id:
        raise ConnectionError(f"correlation id {got} != {correlation_id}")
    return payload[4:]


def _api_versions(sock: socket.socket) -> dict[int, tuple[int, int]]:
    """ApiVersions v0: every broker answers it, whatever versions it supports."""
    body = _roundtrip(sock, _request(18, 0, 1, b""), 1)
    error, count = struct.unpack_from(">hi", body, 0)
    if error:
        raise ConnectionError(f"ApiVersions error code {error}")
    versions = {}
    for i in range(count):
        key, lo, hi = struct.unpack_from(">hhh", body, 6 + 6 * i)
        versions[key] = (lo, hi)
    return versions


def _metadata_broker_ids(sock: socket.socket) -> list[int]:
    """Metadata v4 (Kafka 4 dropped v0-v3) for no topics; returns the live broker ids."""
    body = _roundtrip(sock, _request(3, 4, 2, struct.pack(">i?", 0, False)), 2)
    offset = 4  # throttle_time_ms
    (count,) = struct.unpack_from(">i", body, offset)
    offset += 4
    ids = []
    for _ in range(count):
        node_id, host_len = struct.unpack_from(">ih", body, offset)
        offset += 6 + host_len + 4  # host, port
        (rack_len,) = struct.unpack_from(">h", body, offset)
        offset += 2 + max(rack_len, 0)
        ids.append(node_id)
    return ids


def broker_ready(port: int, host: str = HOST, timeout: float = 2.0) -> bool:
    """True when a broker on host:port speaks Kafka and reports itself live in its metadata."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            versions = _api_versions(sock)
            lo, hi = versions.get(3, (99, -1))
            if not lo <= 4 <= hi:
                raise LocalKafkaError(f"broker on {host}:{port} does not speak Metadata v4 (supports {lo}..{hi})")
            return NODE_ID in _metadata_broker_ids(sock)
    except (OSError, ConnectionError, struct.error):
        return False


# --- the broker ----------------------------------------------------------------


class LocalKafka:
    """One single-node KRaft broker+controller on loopback, owned by this process.

    Parameters
    ----------
    data_dir:
        Where config, logs and topic data go. None: a fresh temp dir, deleted by ``stop()``.
        A given dir is reused as is (formatted once, kept on stop).
    port:
        Client port. None: a free port chosen at the first ``start()`` and kept afterwards.
    cache_dir:
        Where ``fetch()`` puts the jars; defaults to ``default_cache_dir()``.
    start_timeout:
        Seconds ``start()`` waits for the broker to report itself live.
    sasl_users:
        user → password: also listen on ``sasl_bootstrap`` (SASL_PLAINTEXT) with PLAIN and
        SCRAM-SHA-256/512 for these users (SCRAM credentials are written when the data dir
        is formatted, so a reused data dir keeps its first users).
    tls:
        Also listen on ``ssl_bootstrap`` (SSL) with this key store; with ``sasl_users`` as
        well, on ``sasl_ssl_bootstrap`` (SASL_SSL: the same logins over TLS, no client
        certificate asked for).
    """

    def __init__(self, data_dir=None, port=None, cache_dir=None, start_timeout=START_TIMEOUT_S, *,
                 sasl_users: dict[str, str] | None = None, tls: ServerTls | None = None):
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.data_dir = Path(data_dir) if data_dir else None
        self.port = port
        self.controller_port = None
        for name, password in (sasl_users or {}).items():
            if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or any(c in password for c in '"\\,=[]'):
                raise LocalKafkaError(f"SASL user {name!r}: use letters, digits, '.', '_', '-' in names and no "
                                      "quotes, backslashes, commas, '=' or brackets in passwords")
        self.sasl_users = dict(sasl_users or {})
        self.tls = tls
        self.secured_ports: dict[str, int] = {}  # listener name → port, chosen at the first start()
        self.start_timeout = start_timeout
        self._owns_data_dir = False
        self._proc = None
        # Never leave an orphan JVM behind, even when the caller forgets stop() or a test
        # run is interrupted: the broker runs in its own process group, out of reach of Ctrl-C.
        self._finalizer = None

    # -- properties

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise LocalKafkaError("broker not started yet: call start() first")
        return f"{HOST}:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        """The SASL_PLAINTEXT listener (with ``sasl_users``)."""
        return self._secured_bootstrap("SASL_PLAINTEXT", "sasl_users")

    @property
    def ssl_bootstrap(self) -> str:
        """The SSL listener (with ``tls``)."""
        return self._secured_bootstrap("SSL", "tls")

    @property
    def sasl_ssl_bootstrap(self) -> str:
        """The SASL_SSL listener (with ``sasl_users`` and ``tls``)."""
        return self._secured_bootstrap("SASL_SSL", "sasl_users and tls")

    def _secured_bootstrap(self, listener: str, needs: str) -> str:
        if listener not in self.secured_ports:
            raise LocalKafkaError(f"no {listener} listener: pass {needs} and call start() first")
        return f"{HOST}:{self.secured_ports[listener]}"

    def _secured_listeners(self) -> list[str]:
        return [name for name, wanted in (("SASL_PLAINTEXT", self.sasl_users), ("SSL", self.tls),
                                          ("SASL_SSL", self.sasl_users and self.tls)) if wanted]

    @property
    def libs_dir(self) -> Path:
        return self.cache_dir / "libs"

    @property
    def pid(self):
        return self._proc.pid if self._proc else None

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- fetch

    def fetch(self, quiet: bool = True) -> Path:
        """Download Kafka's jars into ``cache_dir/libs`` once; later calls return at once."""
        pom = _asset_text("pom.xml")
        stamp = hashlib.sha256(pom.encode()).hexdigest()
        marker = self.cache_dir / "COMPLETE"
        if _read(marker) == stamp:
            return self.libs_dir
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Several test processes may start at once; only one downloads.
        with open(self.cache_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _read(marker) != stamp:
                self._download(pom, marker, stamp, quiet)
        return self.libs_dir

    def _download(self, pom: str, marker: Path, stamp: str, quiet: bool) -> None:
        mvn = _require_tool("mvn", "install Apache Maven 3.8+ (e.g. apt-get install maven), then run "
                                   "`python -m telltales.streams.localkafka fetch`")
        marker.unlink(missing_ok=True)
        # The pom is copied next to the jars: it records what the cache holds, and mvn
        # needs a real file even when the package data sits inside a zip.
        (self.cache_dir / "pom.xml").write_text(pom, encoding="utf-8")
        staging = self.cache_dir / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [mvn, "-B", "-Dstyle.color=never", "-f", str(self.cache_dir / "pom.xml"),
               "dependency:copy-dependencies", f"-DoutputDirectory={staging}"]
        if quiet:
            cmd.insert(1, "-q")
        result = subprocess.run(cmd, capture_output=quiet, text=True)
        if result.returncode != 0:
            detail = _last_lines((result.stdout or "") + (result.stderr or ""), 15)
            raise LocalKafkaError(f"mvn could not fetch Kafka {kafka_version()} (network to Maven Central?):\n{detail}")
        shutil.rmtree(self.libs_dir, ignore_errors=True)
        staging.rename(self.libs_dir)
        marker.write_text(stamp, encoding="utf-8")

    # -- start

    def start(self, port=None, data_dir=None) -> "LocalKafka":
        """Format (first time only) and start the broker; return when it is live."""
        if self.running():
            raise LocalKafkaError(f"already running on {self.bootstrap}")
        java = _java()
        self.fetch()
        self.port = port or self.port or _free_port()
        while self.controller_port in (None, self.port):
            self.controller_port = _free_port()
        for listener in self._secured_listeners():
            while self.secured_ports.get(listener) in (None, self.port, self.controller_port) or \
                    list(self.secured_ports.values()).count(self.secured_ports[listener]) > 1:
                self.secured_ports[listener] = _free_port()
        self._check_ports_free()
        if data_dir is not None:
            self.data_dir, self._owns_data_dir = Path(data_dir), False
        if self.data_dir is None:
            self.data_dir, self._owns_data_dir = Path(tempfile.mkdtemp(prefix="telltales-kafka-")), True
        try:
            self._write_config()
            if not (self.data_dir / "kraft" / "meta.properties").exists():
                self._format(java)
            self._launch(java)
            self._wait_ready()
        except BaseException:
            # A half-started broker is of no use to anyone; the error carries its log tail.
            self.stop()
            raise
        return self

    def _check_ports_free(self) -> None:
        for p in (self.port, self.controller_port, *self.secured_ports.values()):
            if not port_is_free(p):
                raise LocalKafkaError(f"port {HOST}:{p} is in use: stop what holds it or pick another --port")

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        extra = "".join(f",{name}://{HOST}:{port}" for name, port in self.secured_ports.items())
        config = string.Template(_asset_text("server.properties")).substitute(
            PORT=self.port, CONTROLLER_PORT=self.controller_port, LOG_DIRS=self.data_dir / "kraft",
            EXTRA_LISTENERS=extra)
        (self.data_dir / "server.properties").write_text(config + self._security_config(), encoding="utf-8")
        (self.data_dir / "log4j2.properties").write_text(_asset_text("log4j2.properties"), encoding="utf-8")

    def _security_config(self) -> str:
        """Settings of the SASL and SSL listeners, appended to server.properties."""
        lines = []
        if self.sasl_users:
            lines.append(f"sasl.enabled.mechanisms=PLAIN,{','.join(SCRAM_MECHANISMS)}")
        for listener in self.secured_ports:
            prefix = f"listener.name.{listener.lower()}."
            lines += ["", f"# --- {listener} listener"]
            if listener.startswith("SASL"):  # PLAIN: the users listed here; SCRAM: the users stored at format
                plain_users = " ".join(f'user_{name}="{password}"' for name, password in self.sasl_users.items())
                lines.append(f"{prefix}plain.sasl.jaas.config="
                             f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};")
                lines += [f"{prefix}{m.lower()}.sasl.jaas.config="
                          "org.apache.kafka.common.security.scram.ScramLoginModule required;" for m in SCRAM_MECHANISMS]
            if listener.endswith("SSL"):
                tls = self.tls
                lines += [f"{prefix}ssl.keystore.type=PKCS12", f"{prefix}ssl.keystore.location={tls.keystore}",
                          f"{prefix}ssl.keystore.password={tls.password}", f"{prefix}ssl.key.password={tls.password}"]
                if tls.truststore and listener == "SSL":  # over SASL_SSL the login says who the client is
                    lines += [f"{prefix}ssl.truststore.type=PEM", f"{prefix}ssl.truststore.location={tls.truststore}",
                              f"{prefix}ssl.client.auth=required"]
        return "\n".join(lines) + "\n" if lines else ""

    def _jvm(self, java: str, main: str) -> list[str]:
        return [java, *JVM_OPTS, f"-Dkafka.logs.dir={self.data_dir}",
                f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
                "-cp", str(self.libs_dir / "*"), main]

    def _format(self, java: str) -> None:
        cmd = self._jvm(java, STORAGE_TOOL_MAIN) + [
            "format", "--config", str(self.data_dir / "server.properties"), "--cluster-id", _cluster_id()]
        for name, password in self.sasl_users.items():
            for mechanism in SCRAM_MECHANISMS:
                cmd += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise LocalKafkaError("kafka-storage format failed:\n" + _last_lines(result.stdout + result.stderr, 30))

    def _launch(self, java: str) -> None:
        cmd = self._jvm(java, BROKER_MAIN) + [str(self.data_dir / "server.properties")]
        with open(self.data_dir / OUT_FILE, "ab") as out:
            # Own session and process group: Ctrl-C in a terminal reaches only us, and
            # stop() can signal the JVM with anything it might have spawned.
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        self._finalizer = weakref.finalize(self, _abandon, self._proc, self.data_dir if self._owns_data_dir else None)
        self._write_state()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise LocalKafkaError(f"broker exited with code {self._proc.returncode}:\n{self._logs_tail()}")
            if broker_ready(self.port):
                return
            time.sleep(0.1)
        raise LocalKafkaError(f"broker not ready within {self.start_timeout:g} s:\n{self._logs_tail()}")

    def _logs_tail(self) -> str:
        parts = [f"--- {p}\n{t}" for p in (self.data_dir / OUT_FILE, self.log_path) if (t := _tail(p))]
        return "\n".join(parts) or "(no broker output)"

    def _write_state(self) -> None:
        state = {"pid": self._proc.pid, "port": self.port, "controller_port": self.controller_port,
                 "bootstrap": self.bootstrap, "secured_ports": self.secured_ports, "owner_pid": os.getpid()}
        (self.data_dir / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")

    # -- stop, kill, restart

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after ``timeout``; delete the data dir if we made it."""
        self._halt(signal.SIGTERM, timeout)
        if self._owns_data_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir, self._owns_data_dir = None, False

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would; data dir and port are kept for ``restart()``."""
        self._halt(signal.SIGKILL, 5.0)

    def restart(self, hard: bool = False) -> "LocalKafka":
        """Stop (or with ``hard``, kill) and start again on the same data dir and port."""
        if hard:
            self.kill()
        else:
            self._halt(signal.SIGTERM, STOP_TIMEOUT_S)
        return self.start()

    def _halt(self, sig: int, timeout: float) -> None:
        proc, self._proc = self._proc, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.data_dir is not None:
            (self.data_dir / STATE_FILE).unlink(missing_ok=True)

    # -- context manager

    def __enter__(self) -> "LocalKafka":
        return self if self.running() else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running on {self.bootstrap}" if self.running() else "stopped"
        return f"<LocalKafka {kafka_version()} {state} data_dir={self.data_dir}>"


def _abandon(proc: subprocess.Popen, temp_dir) -> None:
    """Last resort at garbage collection or interpreter exit: kill the JVM, drop our temp dir."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
    if temp_dir is not None:
        shutil.rmtree(temp_dir, ignore_errors=True)


def _read(path: Path):
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def _last_lines(text: str, n: int) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


# --- command line ------------------------------------------------------------------


def _read_state(data_dir: Path):
    text = _read(data_dir / STATE_FILE)
    return json.loads(text) if text else None


def _cmd_fetch(args) -> int:
    kafka = LocalKafka(cache_dir=args.cache_dir)
    print(f"Kafka {kafka_version()} jars in {kafka.fetch(quiet=False)}")
    return 0


def _cmd_start(args) -> int:
    if args.fresh:
        shutil.rmtree(args.data_dir, ignore_errors=True)
    kafka = LocalKafka(data_dir=args.data_dir, port=args.port, cache_dir=args.cache_dir)
    # SIGTERM (from `stop`, systemd, a CI runner) takes the same clean path as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    kafka.start()
    print(f"bootstrap={kafka.bootstrap}", flush=True)
    print(f"ready in {time.monotonic() - started:.1f} s; data in {kafka.data_dir}; Ctrl-C stops", file=sys.stderr)
    try:
        while kafka.running():
            time.sleep(0.5)
        print(f"broker exited:\n{kafka._logs_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        kafka.stop()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _cmd_status(args) -> int:
    state = _read_state(args.data_dir)
    if state and _alive(state["pid"]) and broker_ready(state["port"]):
        print(f"running pid={state['pid']} bootstrap={state['bootstrap']}")
        return 0
    print("not running" if not state or not _alive(state["pid"]) else f"starting or unhealthy pid={state['pid']}")
    return 1


def _cmd_stop(args) -> int:
    state = _read_state(args.data_dir)
    if not state or not _alive(state["pid"]):
        print("not running")
        return 0
    # Ask the process that started the broker, so it stops it cleanly and tidies up;
    # if that owner is gone, signal the broker's own process group directly.
    pid, owner = state["pid"], state.get("owner_pid")
    if owner and owner != os.getpid() and _alive(owner):
        os.kill(owner, signal.SIGTERM)
    else:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        _signal_group(pid, signal.SIGKILL)
    print("stopped")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m telltales.streams.localkafka",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["fetch", "start", "stop", "status"])
    parser.add_argument("--port", type=int, help="client port (start; default: a free one)")
    parser.add_argument("--data-dir", type=Path, help="default: <cache>/data, kept between runs")
    parser.add_argument("--cache-dir", type=Path, help="default: $TELLTALES_CACHE/kafka-<version> or ~/.cache/telltales/...")
    parser.add_argument("--fresh", action="store_true", help="start: wipe the data dir first")
    args = parser.parse_args(argv)
    args.cache_dir = args.cache_dir or default_cache_dir()
    args.data_dir = args.data_dir or args.cache_dir / "data"
    commands = {"fetch": _cmd_fetch, "start": _cmd_start, "stop": _cmd_stop, "status": _cmd_status}
    try:
        return commands[args.command](args)
    except LocalKafkaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
