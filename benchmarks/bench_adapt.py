"""`telltales adapt` as a Kafka service: vendor records per second, beside a raw kafka-python consume of the same topic.

On one local broker (the project's, started here) with a raw Okta topic of N sign-ins
(default 20,000, two partitions) and a directory of 1,000 employees, one run measures:

- raw kafka-python consume + `orjson.loads` of the topic (the ceiling for any consumer
  written with kafka-python, which the sidecar is);
- `telltales adapt --from okta --kafka` over the same records from a file (no consumer:
  translate and produce only);
- `telltales adapt --kafka --input-topic` with the directory from a file, then from
  `directory.employees` (`--directory-topic`): consume, translate, produce, commit.

Each service row is the wall time from the process start until its group's committed
offsets reach the end of the topic; the file row until the process exits. Best of
`--repeat` rounds. kafka-python checks every fetched batch's CRC32C, in pure Python
unless the `crc32c` package is installed (the `kafka-python[crc32c]` extra); the header
says which.

    python benchmarks/bench_adapt.py [--records 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import msgspec
import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.record import util as kafka_record_util

from telltales.schemas.config import parse
from telltales.schemas.events import Employee
from telltales.streams.localkafka import LocalKafka
from telltales.streams.topics import create_topics, topic_value

TELLTALES = [sys.executable, "-m", "telltales.streams.cli"]
RAW_TOPIC = "okta.raw"
PARTITIONS = 2
EMPLOYEES = 1000


def okta_sign_in(i: int) -> bytes:
    """One Okta System Log sign-in of user i % EMPLOYEES, in the documented LogEvent shape."""
    return orjson.dumps({
        "uuid": f"00000000-0000-4000-8000-{i:012d}", "published": f"2026-03-02T09:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
        "eventType": "user.session.start", "displayMessage": "User login to Okta",
        "actor": {"id": f"00u{i % EMPLOYEES:06d}", "type": "User", "alternateId": f"user{i % EMPLOYEES}@example.com"},
        "client": {"userAgent": {"rawUserAgent": "Mozilla/5.0 (Macintosh)", "os": "Mac OS X", "browser": "SAFARI"},
                   "device": "Computer", "ipAddress": f"198.51.100.{i % 250 + 1}",
                   "geographicalContext": {"city": "Chicago", "state": "Illinois", "country": "United States",
                                           "geolocation": {"lat": 41.8858, "lon": -87.6181}}},
        "outcome": {"result": "SUCCESS"},
        "securityContext": {"asNumber": 7922, "asOrg": "comcast", "isProxy": False},
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    crc = "C (crc32c package)" if kafka_record_util.crc32c_c is not None else "pure Python (no crc32c package)"
    with tempfile.TemporaryDirectory() as tmp, LocalKafka() as broker:
        work = Path(tmp)
        bootstrap = broker.bootstrap
        config_file = work / "telltales.toml"
        config_file.write_text(f'[kafka]\nbootstrap_servers = "{bootstrap}"\n[topics]\npartitions = {PARTITIONS}\n')
        config = parse(config_file.read_text())
        create_topics(config)
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        admin.create_topics([NewTopic(RAW_TOPIC, PARTITIONS, 1)])
        admin.close()

        employees = [Employee(employee_id=f"emp-{i}", aliases=[f"user{i}@example.com"]) for i in range(EMPLOYEES)]
        directory = work / "employees.jsonl"
        directory.write_bytes(b"".join(msgspec.json.encode(e) + b"\n" for e in employees))
        records = [okta_sign_in(i) for i in range(args.records)]
        export = work / "okta.jsonl"
        export.write_bytes(b"\n".join(records) + b"\n")
        producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all")
        for e in employees:
            producer.send(config.topics.employees, key=e.employee_id.encode(), value=topic_value(e))
        for record in records:
            producer.send(RAW_TOPIC, value=record)
        producer.flush()
        producer.close()
        partitions = [TopicPartition(RAW_TOPIC, p) for p in range(PARTITIONS)]

        def committed(group: str) -> int:
            consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
            try:
                return sum(consumer.committed(tp) or 0 for tp in partitions)
            finally:
                consumer.close()

        def raw_consume() -> float:
            began = time.monotonic()
            consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
            consumer.assign(partitions)
            consumer.seek_to_beginning()
            seen = 0
            while seen < len(records):
                for batch in consumer.poll(timeout_ms=1000, max_records=500).values():
                    for message in batch:
                        orjson.loads(message.value)
                    seen += len(batch)
            consumer.close()
            return time.monotonic() - began

        def from_file() -> float:
            began = time.monotonic()
            subprocess.run([*TELLTALES, "adapt", "--from", "okta", "--config", str(config_file), "--kafka", "--quiet",
                            "--directory", str(directory), str(export)], check=True)
            return time.monotonic() - began

        def service(*directory_args: str) -> float:
            group = f"bench-{uuid.uuid4().hex[:8]}"
            began = time.monotonic()
            process = subprocess.Popen([*TELLTALES, "adapt", "--from", "okta", "--config", str(config_file), "--kafka",
                                        "--quiet", "--input-topic", RAW_TOPIC, "--group", group, *directory_args])
            while committed(group) < len(records):
                if process.poll() is not None:
                    raise SystemExit(f"telltales adapt exited with {process.returncode}")
                time.sleep(0.1)
            elapsed = time.monotonic() - began
            process.send_signal(signal.SIGTERM)
            if process.wait(60) != 0:
                raise SystemExit(f"telltales adapt exited with {process.returncode} after SIGTERM")
            return elapsed

        rows = {
            "raw kafka-python consume + orjson.loads": raw_consume,
            "adapt --kafka, records from a file": from_file,
            "adapt --input-topic, --directory file": lambda: service("--directory", str(directory)),
            "adapt --input-topic --directory-topic": lambda: service("--directory-topic"),
        }
        times: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(args.repeat):
            for name, run in rows.items():
                times[name].append(run())

    print(f"{args.records:,} Okta sign-ins, {PARTITIONS} partitions, {EMPLOYEES:,} employees; "
          f"kafka-python CRC32C in {crc}; best of {args.repeat}")
    ceiling = args.records / min(times["raw kafka-python consume + orjson.loads"])
    for name, runs in times.items():
        rate = args.records / min(runs)
        print(f"  {name:42s} {rate:9,.0f} records/s  ({rate / ceiling:.2f} of the raw consume; "
              f"runs {', '.join(f'{t:.2f}' for t in runs)} s)")


if __name__ == "__main__":
    main()
