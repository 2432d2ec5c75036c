"""The produce/consume loop a user would write by hand with confluent_kafka.

Usage: loop.py produce BOOTSTRAP TOPIC COUNT NOTE_LEN
       loop.py consume BOOTSTRAP TOPIC COUNT GROUP

Prints one JSON line with the rate (messages/s). Same settings as the Rust benches:
idempotent producer with acks=all and linger.ms=5, at most 10,000 deliveries
outstanding; at-least-once consumer (offset stored after processing, auto-commit).
"""

import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer

IN_FLIGHT = 10_000


def produce(bootstrap, topic, count, note_len):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
    })
    errors = []
    delivered = [0]

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)
        delivered[0] += 1

    # Connection and producer id set up before timing, as on the Rust side (and on the
    # same side topic: the measured topic holds only measured events).
    warm = {"id": "warm-up", "seq": -1, "kind": "created", "sentAtMicros": 0}
    p.produce("bench.latency", json.dumps(warm).encode(), on_delivery=on_delivery)
    p.flush(10)
    delivered[0] = 0
    headers = [("content-type", b"application/json")]
    note = "x" * note_len
    start = time.perf_counter()
    for seq in range(count):
        event = {
            "id": f"evt-{seq:012d}",
            "seq": seq,
            "kind": "created",
            "sentAtMicros": int(time.time() * 1_000_000),
            "note": note,
        }
        payload = json.dumps(event).encode()
        while True:
            try:
                p.produce(topic, payload, headers=headers, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
        while seq + 1 - delivered[0] >= IN_FLIGHT:
            p.poll(0.01)
    p.flush(60)
    elapsed = time.perf_counter() - start
    if errors:
        raise KafkaException(errors[0])
    print(json.dumps({"mode": "produce", "count": count, "rate": count / elapsed}))


def consume(bootstrap, topic, count, group):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
    })
    c.subscribe([topic])
    seen = 0
    first = last = None
    deadline = time.time() + 120
    while seen < count and time.time() < deadline:
        msg = c.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        event = json.loads(msg.value())
        _ = event["seq"]
        c.store_offsets(message=msg)
        seen += 1
        if first is None:
            first = time.perf_counter()
        last = time.perf_counter()
    c.close()
    rate = (seen - 1) / (last - first) if seen > 1 else 0.0
    print(json.dumps({"mode": "consume", "count": seen, "rate": rate}))


def main():
    mode, bootstrap, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if mode == "produce":
        produce(bootstrap, topic, count, int(sys.argv[5]))
    else:
        consume(bootstrap, topic, count, sys.argv[5])


if __name__ == "__main__":
    main()
