"""`telltales demo`, the README's first command: the live pipeline on its own local Kafka, end to end."""

from __future__ import annotations

import pytest

from telltales.streams import demo
from telltales.streams.cli import main as cli

@pytest.mark.kafka
def test_the_live_demo_streams_the_simulation_prints_findings_and_ends_with_the_summary(capsys):
    code = cli(["demo", "--employees", "400", "--days", "4", "--rate", "6000", "--duration", "150"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "demo: Kafka 127.0.0.1:" in out and "streaming" in out
    findings = [line for line in out.splitlines() if line.startswith(("Create ", "Update ", "Close ")) and " risk " in line]
    assert findings, out  # they came back through siem.alerts from the worker
    assert "scenario         operatives  found  recall" in out
    assert f"findings read: {len(findings)};" in out


@pytest.mark.kafka
def test_the_demo_says_so_and_exits_1_when_sending_to_kafka_fails(capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionError("no route to the broker")

    monkeypatch.setattr(demo, "produce", refuse)
    assert cli(["demo", "--employees", "20", "--days", "1", "--duration", "60"]) == 1
    assert ("demo: sending the simulation to Kafka failed: ConnectionError('no route to the broker')"
            in capsys.readouterr().out)


@pytest.mark.parametrize("kafka", ["no-java", "--replay"])
def test_without_java_or_with_replay_the_demo_runs_the_same_simulation_through_replay(capsys, monkeypatch, kafka):
    args = ["demo", "--employees", "200", "--days", "3"]
    if kafka == "no-java":
        monkeypatch.setenv("PATH", "")
        monkeypatch.delenv("JAVA_HOME", raising=False)
    else:
        args.append("--replay")
    assert cli(args) == 0
    out = capsys.readouterr().out
    fell_back = "demo: cannot start the local Kafka (" in out and "not found on PATH" in out  # java, or mvn first
    assert fell_back == (kafka == "no-java")
    assert "demo: Kafka" not in out
    assert "scenario         operatives  found  recall" in out
