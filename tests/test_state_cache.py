"""`StateCache` (streams/app.py): changed table values held in memory until the next commit, then written once.

On the worker's own employee-state table, outbox and partition scope, constructed without
a broker: nothing here is sent (the records stay queued in the outbox), so what a commit
would send is read from the outbox's queue. The guarantees on a real broker (a kill -9
after a commit, a graceful stop) are in tests/test_worker_faults.py and tests/test_worker.py.
"""

from __future__ import annotations

import pytest

from telltales.streams.app import StateCache
from telltales.streams.worker import Worker
from test_worker import worker_config


@pytest.fixture
def worker(tmp_path, monkeypatch) -> Worker:
    monkeypatch.chdir(tmp_path)  # Faust makes worker.data_dir (relative) as soon as it reads its settings
    return Worker(worker_config("127.0.0.1:9", "cache.")[1], web=False)


def queued(worker: Worker) -> dict[int, list[tuple[bytes, bytes]]]:
    """The employee-state changelog records in the outbox's queue, per partition."""
    topic = worker.states.changelog_topic.get_topic_name()
    bulk = worker.outbox._lanes[1].pending  # changelogs go on the bulk lane
    return {partition: records for (name, partition), records in bulk.items() if name == topic}


def cache(worker: Worker, held_max: int = 100, size: int = 1_000) -> StateCache:
    """A cache of plain byte strings on the worker's employee-state table."""
    return StateCache(worker.states, worker.topology.directory, decode=lambda _, raw: raw, encode=bytes,
                      key_bytes=str.encode, size=size, held_max=held_max)


def test_a_key_changed_by_many_batches_is_written_once_with_its_newest_value(worker):
    states = cache(worker)
    with worker.scope.partition(worker.topology.directory, 1):
        for n in range(5):  # five batches change e-1, one changes e-2
            states.put(1, "e-1", b"v%d" % n)
        states.put(1, "e-2", b"w")
    assert queued(worker) == {} and states.held == 2  # nothing goes out before a commit
    assert states.write(worker.outbox, worker.scope, owned={0, 1}) == 0
    assert queued(worker) == {1: [(b"e-1", b"v4"), (b"e-2", b"w")]}
    with worker.scope.partition(worker.topology.directory, 1):
        assert worker.states.data[b"e-1"] == b"v4"  # the store has it too
    assert states.held == 0
    states.write(worker.outbox, worker.scope, owned={0, 1})
    assert len(queued(worker)[1]) == 2  # a second commit with no change writes nothing


def test_a_held_value_is_read_before_the_older_one_in_the_table(worker):
    states = cache(worker)
    with worker.scope.partition(worker.topology.directory, 0):
        worker.states.data[b"e-1"] = b"old"
        assert states.get("e-1") == b"old"
        states.put(0, "e-1", b"new")
        assert worker.states.data[b"e-1"] == b"old"
        assert states.get("e-1") == b"new"
        assert states.get("nobody") is None


def test_values_of_partitions_no_longer_owned_are_dropped_not_written(worker):
    states = cache(worker)
    for partition, key in ((0, "e-0"), (1, "e-1"), (2, "e-2")):
        with worker.scope.partition(worker.topology.directory, partition):
            states.put(partition, key, b"x")
    assert states.write(worker.outbox, worker.scope, owned={1}) == 2
    assert queued(worker) == {1: [(b"e-1", b"x")]}
    with worker.scope.partition(worker.topology.directory, 0):
        assert states.get("e-0") is None  # dropped from the cache too: the table's value is the one left


def test_full_counts_held_values_and_eviction_never_drops_a_held_one(worker):
    states = cache(worker, held_max=3, size=8)
    with worker.scope.partition(worker.topology.directory, 0):
        for n in range(2):
            states.put(0, f"held-{n}", b"h")
        assert not states.full
        states.put(0, "held-2", b"h")
        assert states.full
        for n in range(20):  # clean values read from the table push the cache past its size
            worker.states.data[f"clean-{n}".encode()] = b"c"
            states.get(f"clean-{n}")
        assert len(states._values) <= 8
        assert all(states._values.get(f"held-{n}") == b"h" for n in range(3))
    assert states.write(worker.outbox, worker.scope, owned={0}) == 0
    assert [key for key, _ in queued(worker)[0]] == [b"held-0", b"held-1", b"held-2"]


def test_write_now_writes_at_once_and_the_key_is_no_longer_held(worker):
    states = cache(worker)
    with worker.scope.partition(worker.topology.directory, 2):
        states.put(2, "e-1", b"held")
        states.write_now(worker.outbox, 2, "e-1", b"swept")  # a sweep's change: no input offset may follow
        assert worker.states.data[b"e-1"] == b"swept" and states.get("e-1") == b"swept"
    assert queued(worker) == {2: [(b"e-1", b"swept")]} and states.held == 0
    states.write(worker.outbox, worker.scope, owned={2})
    assert queued(worker) == {2: [(b"e-1", b"swept")]}  # not written a second time by the commit
