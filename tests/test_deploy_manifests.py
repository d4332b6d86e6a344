"""Deployment files, validated offline (no container engine or cluster here): Kubernetes schemas, hadolint,
compose structure, and the wiring between them and the telltales config.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from telltales.schemas.config import parse
from telltales.streams import cli

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
KUBERNETES_VERSION = "1.33.0"
BIN = Path(sys.executable).parent


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d]


def k8s_resources() -> dict[tuple[str, str], dict]:
    found = {}
    for path in sorted(K8S.glob("**/*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in documents(path):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def base_manifests() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def adapter_manifests() -> list[Path]:
    """The adapter sidecar examples: optional (not every deployment has one) but core kinds only."""
    return sorted(K8S.glob("optional/adapter-*.yaml"))


def deployment() -> dict:
    return k8s_resources()[("Deployment", "telltales")]


def worker_container() -> dict:
    return next(c for c in deployment()["spec"]["template"]["spec"]["containers"] if c["name"] == "worker")


def k8s_config():
    return parse(k8s_resources()[("ConfigMap", "telltales-config")]["data"]["telltales.toml"], origin="configmap")


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text("utf-8"))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def instruction(name: str) -> list[str]:
    return [args for kind, args in dockerfile_instructions() if kind == name]


def tool(name: str) -> str:
    path = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    assert path, f"{name} not found: install the dev dependencies (pip install -e '.[dev]')"
    return path


# Kubernetes ---------------------------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch):
    """Fail any attempt to open a network connection (the schemas must come from the package)."""
    def refuse(*args, **kwargs):
        raise AssertionError("network access during offline validation")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("path", base_manifests() + adapter_manifests(), ids=lambda p: p.name)
def test_manifest_is_valid_against_the_kubernetes_schemas(path, no_network):
    import kubernetes_validate

    for doc in documents(path):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_misspelt_field(no_network):
    import kubernetes_validate

    broken = deployment()
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {"httpGet": {"path": "/", "port": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_base_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text("utf-8"))
    assert sorted(kustomization["resources"]) == sorted(p.name for p in base_manifests())
    assert all(doc["metadata"].get("namespace", kustomization["namespace"]) == kustomization["namespace"]
               for (kind, _), doc in k8s_resources().items() if kind != "Namespace")


def test_configmap_toml_is_a_valid_telltales_config():
    config = k8s_config()
    assert config.kafka.sasl_password_env and config.kafka.security_protocol.startswith("SASL")


def test_deployment_wires_ports_probes_config_and_secrets_to_the_config():
    config = k8s_config()
    pod = deployment()["spec"]["template"]
    container = worker_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": config.worker.metrics_port, "http": config.worker.web_port}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/health" and ports[get["port"]] == config.worker.web_port, probe
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == config.worker.metrics_port
    env = {e["name"]: e for e in container["env"]}
    secret = env[config.kafka.sasl_password_env]["valueFrom"]["secretKeyRef"]
    assert secret["name"] == "telltales-kafka"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert container["args"][-1] in mounts  # the --config path is where the ConfigMap is mounted
    assert Path(config.kafka.ssl_cafile).parent.as_posix() in mounts
    assert any(config.worker.data_dir.startswith(path) for path in mounts)
    assert "value" not in env[config.kafka.sasl_password_env]  # never a literal secret


@pytest.mark.parametrize("name", ["telltales", "telltales-adapter-okta"])
def test_deployment_is_hardened_and_bounded(name):
    spec = k8s_resources()[("Deployment", name)]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == int(instruction("USER")[-1].split(":")[0])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    image = container["image"]
    assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")


def test_service_and_monitors_select_the_worker_pods():
    resources = k8s_resources()
    labels = deployment()["spec"]["template"]["metadata"]["labels"]
    service = resources[("Service", "telltales")]
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {p["name"] for p in worker_container()["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    monitor = resources[("ServiceMonitor", "telltales")]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    # The alert rules select job="telltales": jobLabel must name a Service label whose value is that.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "telltales"
    pdb = resources[("PodDisruptionBudget", "telltales")]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_keda_example_scales_the_deployment_on_the_consumer_groups_lag():
    config = k8s_config()
    resources = k8s_resources()
    scaled = resources[("ScaledObject", "telltales")]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment()["metadata"]["name"]
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"] <= config.topics.partitions
    triggers = scaled["spec"]["triggers"]
    assert {t["metadata"]["topic"] for t in triggers} == set(config.topics.telemetry())
    for trigger in triggers:
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == config.worker.app_id
        assert meta["bootstrapServers"] == config.kafka.bootstrap_servers
        assert int(meta["lagThreshold"]) > 0
        auth = resources[("TriggerAuthentication", trigger["authenticationRef"]["name"])]
        assert {ref["name"] for ref in auth["spec"]["secretTargetRef"]} == {"telltales-kafka"}


# The adapter sidecar --------------------------------------------------------------------------------
ADAPTER_JOB = "telltales-adapter"  # the scrape job the adapter alert rules select on


def adapter_args(argv: list[str]):
    """`argv` parsed by telltales' own command line, refused the way `telltales adapt` refuses a bad combination."""
    from telltales.streams.adapt import _usage_error

    args = cli.build_parser().parse_args(argv)
    assert argv[0] == "adapt" and _usage_error(args) is None, (argv, _usage_error(args))
    return args


@pytest.mark.parametrize("path", adapter_manifests(), ids=lambda p: p.name)
def test_adapter_deployment_runs_the_service_with_the_workers_config_and_secret(path):
    config = k8s_config()
    resources = {(d["kind"], d["metadata"]["name"]): d for d in documents(path)}
    (deploy,) = [d for (kind, _), d in resources.items() if kind == "Deployment"]
    pod = deploy["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    args = adapter_args(container["args"])
    assert args.kafka and args.input_topic and args.directory_topic  # the service, not a one-off file run
    assert path.name == f"adapter-{args.adapter}.yaml" and deploy["metadata"]["name"].endswith(f"-{args.adapter}")
    assert container["image"] == worker_container()["image"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": args.metrics_port}
    for probe in ("livenessProbe", "readinessProbe"):  # no health page: the metrics server is the probe
        get = container[probe]["httpGet"]
        assert get["path"] == "/metrics" and ports[get["port"]] == args.metrics_port, probe
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == args.metrics_port
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == ADAPTER_JOB  # the job name (relabel, jobLabel)
    worker_volumes = {v["name"]: v for v in deployment()["spec"]["template"]["spec"]["volumes"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["config"] == worker_volumes["config"] and volumes["kafka-ca"] == worker_volumes["kafka-ca"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert args.config in mounts and mounts[args.config]["name"] == "config"
    assert Path(config.kafka.ssl_cafile).parent.as_posix() in mounts
    env = {e["name"]: e for e in container["env"]}
    assert env[config.kafka.sasl_password_env] == {e["name"]: e for e in worker_container()["env"]}[
        config.kafka.sasl_password_env]
    (service,) = [d for (kind, _), d in resources.items() if kind == "Service"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)


def test_adapter_pods_are_scraped_as_their_own_job_and_never_as_workers():
    resources = k8s_resources()
    monitor = resources[("ServiceMonitor", ADAPTER_JOB)]
    services = [d for (kind, _), d in resources.items()
                if kind == "Service" and d["metadata"]["labels"]["app.kubernetes.io/name"] == ADAPTER_JOB]
    assert services
    for service in services:
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == ADAPTER_JOB
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    rules = (DEPLOY / "prometheus" / "telltales-adapter-rules.yml").read_text("utf-8")
    assert set(re.findall(r'job="([^"]+)"', rules)) == {ADAPTER_JOB}
    # The worker's Service, PodDisruptionBudget and ServiceMonitor select no adapter pod.
    for path in adapter_manifests():
        (deploy,) = [d for d in documents(path) if d["kind"] == "Deployment"]
        labels = deploy["spec"]["template"]["metadata"]["labels"]
        for kind, selector in (("Service", resources[("Service", "telltales")]["spec"]["selector"]),
                               ("PodDisruptionBudget",
                                resources[("PodDisruptionBudget", "telltales")]["spec"]["selector"]["matchLabels"]),
                               ("ServiceMonitor",
                                resources[("ServiceMonitor", "telltales")]["spec"]["selector"]["matchLabels"])):
            assert not selector.items() <= labels.items(), (path.name, kind)


def test_compose_adapter_runs_the_service_on_the_port_prometheus_scrapes():
    doc = compose()
    adapter = doc["services"]["adapter-okta"]
    assert adapter["profiles"] == ["adapters"]  # `compose up` without the profile runs the pipeline as before
    args = adapter_args(adapter["command"])
    assert args.kafka and args.directory_topic
    topic = doc["services"]["okta-raw-topic"]
    assert topic["profiles"] == ["adapters"] and topic["command"][topic["command"].index("--topic") + 1] == args.input_topic
    assert adapter["depends_on"]["okta-raw-topic"]["condition"] == "service_completed_successfully"
    assert args.config == adapter["configs"][0]["target"]
    assert f"{args.metrics_port}:{args.metrics_port}" in adapter["ports"]
    assert f"127.0.0.1:{args.metrics_port}/metrics" in " ".join(adapter["healthcheck"]["test"])
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text("utf-8"))
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == ADAPTER_JOB)
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["adapter-okta"] and sd["port"] == args.metrics_port


# Dockerfile ---------------------------------------------------------------------------------------
def test_hadolint_finds_nothing():
    result = subprocess.run([tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_pinned_and_the_user_is_not_root():
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text("utf-8"), re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    assert all(args.split()[0] in ("${PYTHON_IMAGE}",) for args in instruction("FROM"))
    user = instruction("USER")[-1]
    assert user.split(":")[0] not in ("root", "0")
    assert dockerfile_instructions()[-1][0] in ("CMD", "ENTRYPOINT")


def test_healthcheck_probes_the_worker_health_endpoint():
    config = k8s_config()
    check = instruction("HEALTHCHECK")[0]
    assert f"http://127.0.0.1:{config.worker.web_port}/health" in check


def test_entrypoint_runs_the_worker_with_the_mounted_config():
    import json

    entrypoint = json.loads(instruction("ENTRYPOINT")[-1])
    command = json.loads(instruction("CMD")[-1])
    assert entrypoint + command == ["telltales", "worker", "--config", "/etc/telltales/telltales.toml"]


def test_everything_the_image_copies_exists_and_passes_the_dockerignore():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text("utf-8")
    allowed = [line[1:].rstrip("/") for line in ignore.splitlines() if line.startswith("!")]
    for args in instruction("COPY"):
        if args.startswith("--from"):
            continue
        for source in args.split()[:-1]:
            assert (ROOT / source).exists(), source
            assert any(source.rstrip("/") == a or source.startswith(a + "/") for a in allowed), source


def test_the_extras_the_image_installs_exist():
    extras = re.findall(r'pip wheel [^\n]*"\.\[([\w,]+)\]"', DOCKERFILE.read_text("utf-8"))
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"].get("optional-dependencies", {})
    for extra in ",".join(extras).split(","):
        assert extra in declared, f"deploy/Dockerfile installs .[{extra}], which pyproject.toml does not define"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("telltales"), *args], capture_output=True, text=True, timeout=120)


def test_image_command_resolves_in_a_virtualenv():
    import json

    command = json.loads(instruction("CMD")[-1])
    assert "telltales.streams.worker" in cli.COMMANDS
    result = run_cli(command[0], "--help")
    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout


def test_compose_topics_command_resolves_in_a_virtualenv():
    command = yaml.safe_load(COMPOSE.read_text("utf-8"))["services"]["topics"]["command"]
    result = run_cli(*[c for c in command if not c.startswith("/")][:2], "--help")
    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout


# docker compose -----------------------------------------------------------------------------------
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text("utf-8"))


def test_compose_has_the_pipeline_with_health_checks_and_ordered_start():
    services = compose()["services"]
    assert {"kafka", "topics", "worker", "prometheus", "grafana"} <= set(services)
    for name in ("kafka", "worker", "prometheus", "grafana"):
        check = services[name]["healthcheck"]
        assert check["test"] and not check.get("disable"), name
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, (name, dependency)
            assert condition["condition"] in ("service_started", "service_healthy",
                                              "service_completed_successfully"), name
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency] and not services[dependency]["healthcheck"].get(
                    "disable"), (name, dependency)
    assert services["worker"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_compose_images_are_pinned():
    for name, service in compose()["services"].items():
        if "build" in service:
            assert service["build"]["dockerfile"] == "deploy/Dockerfile"
            assert (COMPOSE.parent / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
            continue
        image = service["image"]
        repository, _, tag = image.partition(":")
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"
    kafka = compose()["services"]["kafka"]["image"]
    assert kafka.startswith("apache/kafka:4."), kafka
    pom = (DEPLOY / "kafka" / "pom.xml").read_text("utf-8")
    assert kafka.split(":")[1] == re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1)


def test_compose_mounts_exist_and_the_config_parses():
    doc = compose()
    for name, service in doc["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), (name, source)
            else:
                assert source in doc["volumes"], (name, source)
        for config in service.get("configs", []):
            assert config["source"] in doc["configs"], name
    config = parse(doc["configs"]["telltales-toml"]["content"], origin="compose")
    ports = {int(p.split(":")[1]) for p in doc["services"]["worker"]["ports"]}
    assert {config.worker.metrics_port, config.worker.web_port} <= ports
    assert config.kafka.bootstrap_servers.split(":")[0] in doc["services"]


def test_prometheus_scrapes_the_compose_worker_and_loads_the_rules():
    doc = compose()
    config = parse(doc["configs"]["telltales-toml"]["content"], origin="compose")
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text("utf-8"))
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "telltales")
    assert job["static_configs"][0]["targets"] == [f"worker:{config.worker.metrics_port}"]
    assert "telltales-rules.yml" in prometheus["rule_files"]
    mount = next(v for v in doc["services"]["prometheus"]["volumes"] if v.startswith("./prometheus:"))
    assert f"--config.file={mount.split(':')[1]}/prometheus.yml" in doc["services"]["prometheus"]["command"]


def test_grafana_provisioning_points_at_the_mounted_dashboards_and_prometheus():
    doc = compose()
    grafana = doc["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("."))
    provisioning = COMPOSE.parent / next(s for s, t in mounts.items() if t == "/etc/grafana/provisioning")
    provider = yaml.safe_load((provisioning / "dashboards" / "telltales.yml").read_text("utf-8"))["providers"][0]
    assert mounts["../dashboards"] == provider["options"]["path"]
    assert list((COMPOSE.parent / "../dashboards").glob("*.json"))
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "dashboards" / Path(home).name).is_file() and home.startswith(provider["options"]["path"])
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text("utf-8"))["datasources"][0]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "prometheus" in doc["services"]


def test_operations_guide_says_what_was_not_run():
    text = (DEPLOY / "OPERATIONS.md").read_text("utf-8")
    for phrase in ("no image was built", "`docker compose up` was never run", "no manifest was", "cluster"):
        assert phrase in text, phrase
