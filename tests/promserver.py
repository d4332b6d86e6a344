"""A real Prometheus (Debian's server) on loopback for tests: scrapes given targets every second, loads the rules.

Used by the dashboard test (a `Metrics` endpoint fed in-process) and the end-to-end test
(a worker fed through Kafka). Missing binaries are installed with
deploy/install-prometheus.sh rather than skipped, so a fresh machine runs these tests too.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from telltales.streams import metrics as m

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "telltales-rules.yml"
SCRAPE_INTERVAL_S = 1


def prometheus_tools() -> tuple[str, str]:
    """Paths of promtool and prometheus, installing Debian's prometheus package first if missing."""
    if shutil.which("promtool") is None or shutil.which("prometheus") is None:
        subprocess.run(["bash", str(ROOT / "deploy" / "install-prometheus.sh")], check=True)
    tools = shutil.which("promtool"), shutil.which("prometheus")
    assert all(tools), "deploy/install-prometheus.sh ran but promtool/prometheus are still not on PATH"
    return tools


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(url)
        time.sleep(0.2)


class Prometheus:
    """`prometheus` in a subprocess with its own config and storage in `folder`, as a context manager.

    Job "telltales" (the name the alert rules select on) scrapes `targets` every second and
    the rule files are evaluated every second, so rate() has points a few seconds after traffic.
    """

    def __init__(self, folder: Path, targets: list[str]) -> None:
        self.folder = folder
        self.targets = targets
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Prometheus:
        _, prometheus = prometheus_tools()
        shutil.copy(RULES, self.folder / RULES.name)
        interval = f"{SCRAPE_INTERVAL_S}s"
        (self.folder / "prometheus.yml").write_text(json.dumps({
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [RULES.name],
            "scrape_configs": [{"job_name": "telltales", "static_configs": [{"targets": self.targets}]}],
        }))
        with (self.folder / "prometheus.log").open("wb") as log:
            self.process = subprocess.Popen(
                [prometheus, f"--config.file={self.folder / 'prometheus.yml'}",
                 f"--storage.tsdb.path={self.folder / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                 "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_ready(f"{self.url}/-/ready", time.monotonic() + 20)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=20)

    def get(self, path: str, **params: str) -> dict:
        """The `data` of a successful API answer (`path` under /api/v1/)."""
        url = f"{self.url}/api/v1/{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def scraped_until(self, when: float, timeout_s: float) -> None:
        """Wait until Prometheus holds a scrape taken at or after `when` (scrapes drift; a fixed sleep is flaky)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(0.5)
            result = self.get("query", query=f"timestamp({m.BUILD_INFO})")["result"]
            if result and float(result[0]["value"][1]) >= when:
                return
        raise TimeoutError(f"Prometheus scraped nothing at or after {when} in {timeout_s:.0f} s; its log:\n"
                           + (self.folder / "prometheus.log").read_text("utf-8", errors="replace")[-2000:])
