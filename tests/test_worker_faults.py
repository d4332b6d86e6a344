"""The worker under faults on a real broker: a crash at an offset commit, a member leaving, a stop, a broker restart.

Each test streams the worker test's data set (a simulated organisation with planted
laptop-farm stories) into Kafka in chunks, injects the fault while the stream is still
being produced and processed, lets the worker (or its successor) drain everything, and
checks that every employee's final case — number, open or closed, risk band,
contributing detectors — is the one replay computes from the same records, that the
findings name the same cases, and that every employee's final state is made of each of
its events exactly once (the workers trace the order they applied events in). The crash
comes where the worker holds changed states back from the changelog until a commit
(`StateCache`), at a point of the commit the worker itself reports (`PARK`).
Consumer-group session timeouts are short (6 s, the broker's minimum) so that a dead
member's partitions move quickly.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time

import msgspec
import pytest
from kafka import KafkaProducer

from telltales.detectors.engine import Engine
from telltales.schemas.decoder import Decoder
from telltales.schemas.events import Employee
from telltales.streams.localkafka import LocalKafka
from telltales.streams.topics import create_topics
from test_worker import (PARTITIONS, RunningWorker, applied_states, as_kafka, case_states, cases_in_findings, data_set,
                         lag, observed, planted, produce, read_topic, replay_run, wait_drained, worker_config,
                         worker_states)
from test_worker_ops import free_ports, get_health, with_ports

pytestmark = pytest.mark.kafka

SESSION_TIMEOUT_S = 6  # the broker's group.min.session.timeout.ms
CHUNK = 250  # records per produced chunk
PAUSE_S = 0.3  # between chunks: the whole data set takes ~6 s to produce
FAULT_AT = 1 / 3  # the fault comes once this share of the telemetry has been produced
JOIN_AFTER_S = 1.5  # the second worker of the hand-over test starts this long after the first
KILL_COMMIT_INTERVAL_S = 1.0  # the kill test's commits: its second that holds states comes early in the stream

# A worker that stops at its second offset commit holding changed employee states (`StateCache`), once it has
# written kill_point.json (the moment, how many states it held), until the test kills it: "held" — before the commit
# writes them (they are only in memory); "written" — once they are durable in the changelog, before the offsets are
# committed. `time.sleep` stops the whole event loop there.
PARK = textwrap.dedent("""
    import json, os, time
    from telltales.streams.app import Outbox
    from telltales.streams.worker import Worker

    PARK_AT, write_states, durable, holding = "MOMENT", Worker.write_states, Outbox.durable, []

    def park(held):
        with open("kill_point.tmp", "w") as out:
            json.dump({"moment": PARK_AT, "held": held}, out)
        os.replace("kill_point.tmp", "kill_point.json")
        time.sleep(600)

    def counted_write_states(self):  # here only ever called by a commit: the held states never fill the cache
        if self.state_cache.held:
            holding.append(self.state_cache.held)
            if PARK_AT == "held" and len(holding) == 2:
                park(self.state_cache.held)
        write_states(self)

    async def parked_durable(self):
        before = len(holding)
        durable_ok = await durable(self)
        if PARK_AT == "written" and before == 1 and len(holding) == 2:
            park(holding[-1])
        return durable_ok

    Worker.write_states, Outbox.durable = counted_write_states, parked_durable
""")

SLOW_FLUSH_S = 5.0  # how long the sweep timer's flush waits in the stop test: longer than a stop takes here

# The agents leave every telemetry record in the buffer, so the sweep timer applies them all; its flush after the
# tick that applied the last of them waits SLOW_FLUSH_S (the acks come after it), once it has written the file
# "flushing" (the test stops the worker then).
SLOW_SWEEP = textwrap.dedent(f"""
    import asyncio, contextvars
    from telltales.streams.app import Outbox
    from telltales.streams.worker import Worker

    in_sweep, all_applied = contextvars.ContextVar("in_sweep", default=False), []
    sweep_timer, drain, flush = Worker._sweep_timer, Worker._drain, Outbox.flush

    async def marked_sweep_timer(self):
        in_sweep.set(True)  # in the timer's own task: the agents' tasks do not see it
        await sweep_timer(self)

    def drain_in_sweep_only(self, partition):
        if not in_sweep.get():
            return []
        applied = drain(self, partition)
        telemetry = [tp for tp in self.app.consumer.assignment() if tp.topic in self.topology.telemetry]
        if applied and not any(p.size for p in self._pending.values()) and all(map(self._caught_up, telemetry)):
            all_applied.append(True)
        return applied

    async def slow_flush(self, *, express_only=False):
        if in_sweep.get() and all_applied:
            all_applied.clear()
            open("flushing", "w").close()
            await asyncio.sleep({SLOW_FLUSH_S})
        await flush(self, express_only=express_only)

    Worker._sweep_timer, Worker._drain, Outbox.flush = marked_sweep_timer, drain_in_sweep_only, slow_flush
""")


class Stream(threading.Thread):
    """Produces records in order, a chunk at a time with pauses, so that a fault lands mid-stream."""

    def __init__(self, bootstrap: str, config, records: list[tuple[str, bytes, bytes]]) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.config, self.records = bootstrap, config, records
        self.sent = 0
        self.error: BaseException | None = None
        self._open = threading.Event()
        self._open.set()
        self._idle = threading.Event()

    def run(self) -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
            last = 0
            for start in range(0, len(self.records), CHUNK):
                self._idle.set()
                self._open.wait()
                self._idle.clear()
                for topic, key, value in self.records[start:start + CHUNK]:
                    last = max(int(time.time() * 1000), last + 1)  # timestamps in production order
                    producer.send(getattr(self.config.topics, topic), key=key, value=value, timestamp_ms=last)
                producer.flush()
                self.sent = min(start + CHUNK, len(self.records))
                time.sleep(PAUSE_S)
            producer.close()
        except BaseException as exc:  # noqa: BLE001 — reported by finish()
            self.error = exc

    def hold(self) -> None:
        """Stop between two chunks (everything produced so far is acknowledged by the broker)."""
        self._open.clear()
        self._idle.wait(30)

    def go_on(self) -> None:
        self._open.set()

    def finish(self) -> None:
        self.join(120)
        assert not self.is_alive(), "the producer did not finish"
        assert self.error is None, f"producing failed: {self.error!r}"
        assert self.sent == len(self.records)


def setup(bootstrap: str, prefix: str) -> tuple[str, object, Stream, dict, dict]:
    """Topics, the expected cases (replay of the same records), and a stream ready to start."""
    records, sim_toml = data_set()
    text, config = worker_config(bootstrap, prefix, sim_toml)
    text = text.replace("[worker]\n", f"[worker]\nsession_timeout_s = {SESSION_TIMEOUT_S}\n")
    replay_findings, replay_states = replay_run(records, config)
    create_topics(config)
    directory = [r for r in records if r["event_type"] == "employee"]
    telemetry = [r for r in records if r["event_type"] != "employee"]
    produce(config, as_kafka(directory))
    stream = Stream(bootstrap, config, as_kafka(telemetry))
    return text, config, stream, cases_in_findings(replay_findings), case_states(replay_states)


def start_stream(config, stream: Stream, worker: RunningWorker, timeout_s: float = 60.0) -> None:
    """Once the worker has read the directory and committed (it is live), start producing telemetry."""
    deadline = time.monotonic() + timeout_s
    while lag(config) is None:
        assert worker.proc.poll() is None, worker.output()[-4000:]
        assert time.monotonic() < deadline, f"the worker committed nothing:\n{worker.output()[-4000:]}"
        time.sleep(0.2)
    stream.start()


def wait_mid_stream(stream: Stream, timeout_s: float = 60.0) -> int:
    """Until a third of the telemetry is produced; returns how many records were produced by then.

    Polled often, so a fault comes within milliseconds of a chunk's flush: before the worker
    can have committed that chunk (its commit interval is seconds), whatever the machine's load.
    """
    deadline = time.monotonic() + timeout_s
    while stream.sent < len(stream.records) * FAULT_AT:
        assert stream.is_alive() and time.monotonic() < deadline, f"the stream stopped at {stream.sent}"
        time.sleep(0.005)
    return stream.sent


def wait_health(done, *ports: int, timeout_s: float = 60.0) -> list[int]:
    """Until the workers' /health pages all say "ok" and `done(their partition counts)`; returns the counts."""
    deadline = time.monotonic() + timeout_s
    answers = []
    while time.monotonic() < deadline:
        answers = [get_health(port) for port in ports]
        if all(a is not None and a[1]["status"] == "ok" for a in answers):
            shares = [a[1]["partitions"] for a in answers]
            if done(shares):
                return shares
        time.sleep(0.2)
    raise AssertionError(f"partitions did not settle as expected: {answers}")


def wait_file(worker: RunningWorker, name: str, timeout_s: float = 60.0) -> str:
    """Until a worker running a test's prelude has written the file `name` in its folder (it has reached the point
    the test waits for); returns what it wrote there."""
    path = worker.folder / name
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert worker.proc.poll() is None, worker.output()[-4000:]
        assert time.monotonic() < deadline, f"the worker did not write {name}:\n{worker.output()[-4000:]}"
        time.sleep(0.05)
    return path.read_text("utf-8")


def holds(state, source: list) -> bool:
    """Does this employee state (None: none) already hold the event at `source` (a trace line's position)?"""
    return state is not None and source[0] in state.pos and state.pos[source[0]][0] >= source[1]


def assert_same_cases(config, expected_cases: dict, expected_states: dict) -> None:
    bootstrap = config.kafka.bootstrap_servers
    findings = [json.loads(r.value) for r in read_topic(bootstrap, config.topics.alerts)]
    assert cases_in_findings(findings) == expected_cases
    assert case_states(worker_states(config)) == expected_states
    assert read_topic(bootstrap, config.topics.dlq) == []


def applied_order(*traces: list[dict]) -> dict[str, list[str]]:
    """Employee → the event ids its final state is made of, in the order they were applied, from workers' traces.

    The workers' calls are merged by wall time (one machine, one clock; a partition's owners
    change seconds apart). An employee's applications are kept while each next worker
    continues the state they made; when a worker starts from a state that holds less (the
    changelog record it read: what came after was lost with a killed process, or not yet
    written), the applications past that state's positions are dropped — that worker
    applies them again.
    """
    order: dict[str, list[tuple[str, int, str]]] = {}
    for line in sorted((line for trace in traces for line in trace), key=lambda line: line["t"]):
        applied = order.setdefault(line["employee"], [])
        start = line.get("start")
        if start is not None:
            applied[:] = [(source, offset, i) for source, offset, i in applied if offset <= start.get(source, -1)]
        if not line["duplicate"]:
            applied.append((str(line["source"][0]), line["source"][1], line["id"]))
    return {employee: [i for _, _, i in applied] for employee, applied in order.items()}


def assert_each_event_applied_once(config, *workers: RunningWorker) -> None:
    """Every employee's final state is the engine run over its events, each once, in the order the workers applied them.

    While records are being produced, and after a restart or a hand-over, the worker can apply
    one employee's records of two topics in another order than the file's (`streams/worker.py`,
    processing order), so its detector states can differ from replay's in order-dependent
    details (a running mean's last digits, a count); the cases cannot. This checks what
    the guarantees promise of the states: nothing lost, nothing applied twice.
    """
    order = applied_order(*(observed(worker.folder) for worker in workers))
    records, _ = data_set()
    decoder, employees, events = Decoder(), {}, {}
    for record in records:
        event = decoder.decode(msgspec.json.encode(record))
        if isinstance(event, Employee):
            employees[event.employee_id] = event
        else:
            events[event.event_id] = event
    assert sorted(i for ids in order.values() for i in ids) == sorted(events)  # each event once
    engine, rebuilt = Engine(config), {}
    for employee_id, ids in order.items():
        state = None
        for event_id in ids:
            state = engine.observe(events[event_id], state, employees.get(employee_id)).state
        rebuilt[employee_id] = state
    assert applied_states(worker_states(config)) == applied_states(rebuilt)


@pytest.mark.parametrize("moment", ["held", "written"])
def test_a_worker_killed_at_a_commit_holding_states_and_restarted_ends_with_the_cases_of_replay(
        moment, kafka_bootstrap, topic_prefix, tmp_path):
    """kill -9 at an offset commit while changed employee states are held back from the changelog (`StateCache`).

    "held": before the commit has written them, so they exist only in the killed process's
    memory: the records that made them must be read and applied again from the committed
    offsets. "written": once they are durable in the changelog, before the offsets that cover
    them are committed: those records come again and must count as duplicates.
    """
    text, config, stream, expected_cases, expected_states = setup(kafka_bootstrap, topic_prefix)
    text = text.replace("[worker]\n", f"[worker]\ncommit_interval_s = {KILL_COMMIT_INTERVAL_S}\n")
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = RunningWorker(tmp_path / "first", text, trace=True, prelude=PARK.replace("MOMENT", moment))
    second = None
    try:
        start_stream(config, stream, first)
        parked = json.loads(wait_file(first, "kill_point.json"))
        first.proc.kill()  # SIGKILL: no commit, no leaving the group, output in flight lost or not
        first.proc.wait(10)
        produced_at_kill, lag_at_kill, at_kill = stream.sent, lag(config), worker_states(config)
        second = RunningWorker(tmp_path / "second", text, trace=True)
        stream.finish()
        wait_drained(config, second)
    finally:
        first.stop()
        code = second.stop() if second else None
    assert produced_at_kill < len(stream.records), "the kill must come mid-stream"
    assert parked["moment"] == moment and parked["held"] > 0, parked
    if moment == "held":  # events the killed worker applied that no changelog record holds: lost with it
        assert [line for line in observed(first.folder) if not line["duplicate"]
                and not holds(at_kill.get(line["employee"]), line["source"])]
    else:  # what the killed worker wrote but did not commit came again
        assert any(line["duplicate"] for line in observed(second.folder))
    assert code == 0, second.output()[-4000:]
    assert_same_cases(config, expected_cases, expected_states)
    assert_each_event_applied_once(config, first, second)
    assert lag_at_kill, "the offsets of the records that made the held states must not have been committed"


def test_a_graceful_stop_waits_for_the_acks_of_records_the_sweep_timer_applied(kafka_bootstrap, topic_prefix,
                                                                                 tmp_path):
    """Records applied by the sweep timer (buffered ones) are acked only after its flush: a SIGTERM that comes
    meanwhile commits them once acked, so every input record is committed after the stop (`SLOW_SWEEP`)."""
    text, config = worker_config(kafka_bootstrap, topic_prefix)
    create_topics(config)
    directory, telemetry = planted()
    produce(config, as_kafka(directory + telemetry))
    worker = RunningWorker(tmp_path, text, trace=True, prelude=SLOW_SWEEP)
    try:
        wait_file(worker, "flushing")
        stopped_at = time.monotonic()
        code = worker.stop()
        stop_s = time.monotonic() - stopped_at
    finally:
        worker.stop()
    assert code == 0, worker.output()[-4000:]
    assert len([line for line in observed(tmp_path) if not line["duplicate"]]) == len(telemetry)
    inputs = {*config.topics.telemetry(), config.topics.employees}
    uncommitted = lag(config, per_partition=True)
    assert uncommitted is not None
    assert {tp: n for tp, n in uncommitted.items() if tp.split("[")[0] in inputs} == {}, (stop_s, uncommitted)


def test_partitions_of_a_worker_stopped_mid_stream_move_to_the_other_and_nothing_is_lost(kafka_bootstrap,
                                                                                         topic_prefix, tmp_path):
    text, config, stream, expected_cases, expected_states = setup(kafka_bootstrap, topic_prefix)
    (tmp_path / "leaving").mkdir()
    (tmp_path / "staying").mkdir()
    (leaving_web, leaving_metrics, staying_web, staying_metrics) = free_ports(4)
    leaving = RunningWorker(tmp_path / "leaving", with_ports(text, leaving_web, leaving_metrics), web=True, trace=True)
    staying = None
    try:
        # The second worker joins while the first is starting: the rebalance during start-up, and the SIGTERM
        # hand-over mid-stream, each seek input partitions while records are fetched (see BatchConsumer.perform_seek).
        time.sleep(JOIN_AFTER_S)
        staying = RunningWorker(tmp_path / "staying", with_ports(text, staying_web, staying_metrics), web=True,
                                trace=True)
        start_stream(config, stream, leaving)
        wait_mid_stream(stream)
        shares = wait_health(lambda shares: sum(shares) == PARTITIONS and 0 not in shares, leaving_web, staying_web)
        produced_at_stop = stream.sent
        assert leaving.stop() == 0, leaving.output()[-4000:]  # SIGTERM: finish the batch, commit, leave the group
        wait_health(lambda shares: shares == [PARTITIONS], staying_web)
        stream.finish()
        wait_drained(config, staying)
    finally:
        leaving.stop()
        code = staying.stop() if staying else None
    assert code == 0, staying.output()[-4000:]
    assert len(shares) == 2  # both workers held partitions before one left ...
    assert produced_at_stop < len(stream.records)  # ... mid-stream
    assert_same_cases(config, expected_cases, expected_states)
    assert_each_event_applied_once(config, leaving, staying)


@pytest.mark.slow
def test_the_worker_rides_out_a_broker_restart_mid_stream(topic_prefix, tmp_path):
    broker = LocalKafka()  # its own broker: restarting the session's would disturb every other test
    worker = None
    try:
        broker.start()
        text, config, stream, expected_cases, expected_states = setup(broker.bootstrap, topic_prefix)
        worker = RunningWorker(tmp_path, text, trace=True)
        start_stream(config, stream, worker)
        produced_at_restart = wait_mid_stream(stream)
        stream.hold()
        broker.restart(hard=True)  # SIGKILL and start again on the same data and port, as after a crash
        stream.go_on()
        stream.finish()
        wait_drained(config, worker)
        code = worker.stop()
        assert code == 0, worker.output()[-4000:]
        assert produced_at_restart < len(stream.records)
        assert_same_cases(config, expected_cases, expected_states)
        assert_each_event_applied_once(config, worker)
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()
