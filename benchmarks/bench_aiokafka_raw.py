"""The ceiling of SPEC section 8: raw aiokafka consume + `orjson.loads` of every message, no framework.

Run by `benchmarks/bench_worker.py` in its own process; usable alone:

    python benchmarks/bench_aiokafka_raw.py --bootstrap 127.0.0.1:9092 --topics a,b,c --events 150000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import orjson
from aiokafka import AIOKafkaConsumer


async def consume(bootstrap: str, topics: list[str], events: int, timeout_s: float) -> dict:
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4().hex[:8]}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen = 0
    first = last = 0.0
    deadline = time.monotonic() + timeout_s
    try:
        while seen < events and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                if records and not first:
                    first = time.perf_counter()
                for record in records:
                    orjson.loads(record.value)
                seen += len(records)
            last = time.perf_counter()
    finally:
        await consumer.stop()
    elapsed = last - first if first else 0.0
    return {"name": "raw aiokafka consume+parse", "events": seen, "seconds": elapsed,
            "rate": seen / elapsed if elapsed else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topics", required=True, help="comma-separated")
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    result = asyncio.run(consume(args.bootstrap, args.topics.split(","), args.events, args.timeout))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
