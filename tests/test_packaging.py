"""The distribution: a built wheel carries the telltales namespace, its data files and the console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
                   check=True)
    (built,) = out.glob("telltales-*.whl")
    return built


def test_wheel_holds_only_the_telltales_namespace_and_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top_level == {"telltales"}, "nothing may install a generic top-level module"
    for required in ("telltales/schemas/json/vpn_login.schema.json", "telltales/schemas/json/dlq_envelope.schema.json",
                     "telltales/deploy/kafka/pom.xml", "telltales/detectors/engine.py", "telltales/streams/cli.py"):
        assert required in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "telltales = telltales.streams.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_wheel_runs_from_its_own_files(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
                   check=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = ("import telltales.schemas.jsonschema as j, telltales.streams.localkafka as k;"
             "print(j.__file__); print(len(j.load('vpn_login')['properties'])); print(k.kafka_version())")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    module_file, properties, kafka_version = out.split()
    assert module_file.startswith(str(target))
    assert int(properties) > 10 and kafka_version.startswith("4.")
    help_text = subprocess.run([sys.executable, "-m", "telltales.streams.cli", "--help"], env=env,
                               capture_output=True, text=True, check=True).stdout
    assert "topics" in help_text and "schema" in help_text


def test_development_install_is_editable_and_serves_the_source_tree():
    direct_url = metadata.distribution("telltales").read_text("direct_url.json")
    assert direct_url and json.loads(direct_url).get("dir_info", {}).get("editable") is True
    import telltales.detectors
    import telltales.schemas

    assert Path(telltales.schemas.__file__).resolve() == ROOT / "schemas" / "__init__.py"
    assert Path(telltales.detectors.__file__).resolve() == ROOT / "detectors" / "__init__.py"
