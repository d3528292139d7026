#!/usr/bin/python3
"""Tests of keel-bus against a real nats-server with JetStream (started here on a free port),
and of its outbox commands against a real PostgreSQL (also started here).
Run: /usr/bin/python3 tools/bus/tests/keel_bus_test.py
The binary: $KEEL_BUS, else $KEEL_BUILD_DIR/tools/bus/keel-bus (default build dir:
build/release). Streams, consumers, dead
letters, trail records and registry declarations are made here through the NATS text
protocol; events are published with the tool itself."""
import base64
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
KEEL_BUS = os.environ.get("KEEL_BUS") or os.path.join(
    os.environ.get("KEEL_BUILD_DIR") or os.path.join(ROOT, "build/release"), "tools/bus/keel-bus")
NATS_SERVER = "/usr/sbin/nats-server"
SECOND = 1_000_000_000  # JetStream durations are nanoseconds


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uuid7():
    ms = time.time_ns() // 1_000_000
    b = bytearray(ms.to_bytes(6, "big") + secrets.token_bytes(10))
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Nats:
    """Just enough of the NATS client protocol: publish (with headers), request, fetch."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.sid = 0
        if not self._line().startswith(b"INFO "):
            raise RuntimeError("not a NATS server")
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,'
                          b'"no_responders":true,"protocol":1}\r\nPING\r\n')
        while self._line() != b"PONG":
            pass

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("NATS closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _message(self):
        """(subject, reply, headers dict, payload) of the next MSG/HMSG."""
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
                continue
            if line.startswith(b"-ERR"):
                raise RuntimeError(line.decode())
            parts = line.decode().split()
            if parts[0] == "MSG":
                reply = parts[3] if len(parts) == 5 else ""
                return parts[1], reply, {}, self._bytes(int(parts[-1]))
            if parts[0] == "HMSG":
                reply = parts[3] if len(parts) == 6 else ""
                hlen, total = int(parts[-2]), int(parts[-1])
                raw = self._bytes(total)
                return parts[1], reply, parse_headers(raw[:hlen]), raw[hlen:]

    def publish(self, subject, payload=b"", headers=None, reply=""):
        if isinstance(payload, str):
            payload = payload.encode()
        reply = f" {reply}" if reply else ""
        if headers:
            h = ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
            self.sock.sendall(f"HPUB {subject}{reply} {len(h)} {len(h) + len(payload)}\r\n".encode()
                              + h + payload + b"\r\n")
        else:
            self.sock.sendall(f"PUB {subject}{reply} {len(payload)}\r\n".encode() + payload + b"\r\n")

    def request(self, subject, payload=b"", headers=None, count=1):
        self.sid += 1
        inbox = f"_INBOX.{secrets.token_hex(8)}"
        self.sock.sendall(f"SUB {inbox} {self.sid}\r\nUNSUB {self.sid} {count}\r\n".encode())
        self.publish(subject, payload, headers, reply=inbox)
        return [self._message() for _ in range(count)]

    def api(self, name, body=None):
        _, _, _, data = self.request("$JS.API." + name, json.dumps(body) if body is not None else b"")[0]
        answer = json.loads(data)
        if "error" in answer:
            raise RuntimeError(f"{name}: {answer['error']}")
        return answer

    def js_publish(self, subject, payload, headers=None):
        """Publishes into a stream and returns the stream sequence of the ack."""
        _, _, _, data = self.request(subject, payload, headers)[0]
        ack = json.loads(data)
        if "error" in ack:
            raise RuntimeError(f"publish {subject}: {ack['error']}")
        return ack["seq"]

    def stored(self, stream, seq):
        """A stored message: (subject, headers, payload, time string)."""
        m = self.api(f"STREAM.MSG.GET.{stream}", {"seq": seq})["message"]
        headers = parse_headers(base64.b64decode(m["hdrs"])) if m.get("hdrs") else {}
        return m["subject"], headers, base64.b64decode(m.get("data") or ""), m["time"]


def parse_headers(raw):
    out = {}
    for line in raw.decode().split("\r\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out.setdefault(k.strip(), v.strip())
    return out


class KeelBusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(KEEL_BUS, os.X_OK):
            raise RuntimeError(f"{KEEL_BUS} is not built (cmake --build build/release --target keel-bus)")
        cls.dir = tempfile.mkdtemp(prefix="keel-bus-test-")
        cls.port = free_port()
        conf = os.path.join(cls.dir, "nats.conf")
        with open(conf, "w") as f:
            f.write(f"listen: 127.0.0.1:{cls.port}\n"
                    f'jetstream {{ store_dir: "{cls.dir}/js", max_memory_store: 64MB, max_file_store: 16GB }}\n')
        cls.log = open(os.path.join(cls.dir, "nats.log"), "w")
        cls.server = subprocess.Popen([NATS_SERVER, "-c", conf], stdout=cls.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while True:
            try:
                cls.nats = Nats(cls.port)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        cls.url = f"nats://127.0.0.1:{cls.port}"
        for name in ("ORDERS", "CATALOG", "PAYMENTS", "ACCOUNT", "LAB"):  # no FISCAL: a missing stream
            cls.stream(name, f"{name.lower()}.>")
        cls.stream("DLQ", "dlq.>")
        cls.stream("TRAIL", "trail.>")
        cls.stream("REGISTRY", "keel.registry.>", max_msgs_per_subject=1)

    @classmethod
    def tearDownClass(cls):
        cls.nats.close()
        cls.server.terminate()
        cls.server.wait(10)
        cls.log.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def stream(cls, name, subject, max_msgs_per_subject=-1):
        cls.nats.api(f"STREAM.CREATE.{name}", {
            "name": name, "subjects": [subject], "storage": "file", "retention": "limits",
            "discard": "old", "max_age": 7 * 24 * 3600 * SECOND, "duplicate_window": 900 * SECOND,
            "max_msgs_per_subject": max_msgs_per_subject, "num_replicas": 1})

    def run_tool(self, *args, expect=0, env=None):
        environment = dict(os.environ, NATS_URL=self.url, **(env or {}))
        p = subprocess.run([KEEL_BUS, *args], capture_output=True, text=True, timeout=60, env=environment)
        self.assertEqual(p.returncode, expect, f"keel-bus {' '.join(args)}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def publish(self, topic, payload, correlation=None):
        args = ["publish", topic, json.dumps(payload)]
        if correlation:
            args += ["--correlation-id", correlation]
        return json.loads(self.run_tool(*args).stdout)

    # --- publish and tail -----------------------------------------------------------------

    def placed(self, n):
        return {"order_id": f"o-{n}", "user_id": "u-1", "total": 1250 * n, "currency": "EUR",
                "items": [{"product_id": "p-1", "quantity": n, "unit_price": 1250}], "placed_at": 1714557600000 + n}

    def cancelled(self, n):
        return {"order_id": f"c-{n}", "user_id": "u-1", "items": [], "total": 0, "currency": "EUR", "reason": "test"}

    def test_publish_tail_and_errors(self):
        topic = "orders.order_placed.v1"
        published = []
        for n in (1, 2, 3):
            published.append(self.publish(topic, self.placed(n), correlation="corr-tail"))
            self.publish("orders.order_cancelled.v1", self.cancelled(n))  # other topic, same stream
        self.assertEqual([p["seq"] for p in published], [1, 3, 5])
        self.assertEqual(published[0]["correlation_id"], "corr-tail")

        # the whole topic, decoded
        out = self.run_tool("tail", topic, "--from-start", "--count", "3", "--timeout", "10").stdout
        lines = [json.loads(line) for line in out.splitlines()]
        self.assertEqual([line["payload"] for line in lines], [self.placed(n) for n in (1, 2, 3)])
        self.assertEqual([line["seq"] for line in lines], [1, 3, 5])
        self.assertEqual([line["event_id"] for line in lines], [p["event_id"] for p in published])
        first = lines[0]
        self.assertEqual(list(first), ["seq", "time", "event_id", "correlation_id", "causation_id", "topic",
                                       "payload", "trail"])
        self.assertEqual((first["correlation_id"], first["causation_id"], first["topic"]), ("corr-tail", "", topic))
        self.assertRegex(first["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertEqual(first["trail"][0]["service"], "keel-bus")
        self.assertEqual(first["trail"][0]["tags"]["emitted"], topic)

        # the envelope as the bus writes it
        _, headers, _, _ = self.nats.stored("ORDERS", 1)
        self.assertEqual(headers["Nats-Msg-Id"], published[0]["event_id"])
        self.assertEqual(headers["Keel-Event-Id"], published[0]["event_id"])
        self.assertRegex(headers["Keel-Schema-Fingerprint"], r"^[0-9a-f]{16}$")
        self.assertRegex(headers["traceparent"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
        self.assertTrue(headers["Keel-Produced-At"].isdigit())

        # the last two only (other topics in between), then --timeout ends it
        started = time.time()
        out = self.run_tool("tail", topic, "--last", "2", "--timeout", "1.5").stdout
        self.assertEqual([json.loads(line)["payload"]["order_id"] for line in out.splitlines()], ["o-2", "o-3"])
        self.assertLess(time.time() - started, 10)
        out = self.run_tool("tail", topic, "--last", "10", "--count", "3").stdout
        self.assertEqual(len(out.splitlines()), 3)

        # following: only what is published after it started
        tail = subprocess.Popen([KEEL_BUS, "tail", topic, "--count", "1", "--timeout", "30", "--server", self.url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 10
        while not any("durable_name" not in c["config"] for c in self.nats.api("CONSUMER.LIST.ORDERS")["consumers"] or []):
            self.assertLess(time.time(), deadline, "tail never created its consumer")
            time.sleep(0.05)
        fourth = self.publish(topic, self.placed(4))
        out, err = tail.communicate(timeout=30)
        self.assertEqual(tail.returncode, 0, err)
        line = json.loads(out)
        self.assertEqual((line["payload"], line["event_id"]), (self.placed(4), fourth["event_id"]))

        # the tool's events have a trail record too
        out = self.run_tool("trail", fourth["event_id"]).stdout
        self.assertIn("correlation " + fourth["correlation_id"], out)
        self.assertRegex(out, r"keel-bus@\S+\s+publish\s+orders\.order_placed\.v1\s+published")

        # usage errors: exit 2, with what is wrong
        p = self.run_tool("tail", "orders.nope.v1", expect=2)
        self.assertIn("unknown topic", p.stderr)
        self.assertIn("payments.payment_captured.v1", p.stderr)
        bad = self.placed(5)
        bad["items"][0]["quantity"] = "two"
        p = self.run_tool("publish", topic, json.dumps(bad), expect=2)
        self.assertIn("items[0].quantity", p.stderr)
        p = self.run_tool("publish", topic, '{"order_id": ', expect=2)
        self.assertIn("not JSON", p.stderr)
        p = self.run_tool("publish", topic, json.dumps({**self.placed(5), "extra": 1}), expect=2)
        self.assertIn("extra", p.stderr)
        self.run_tool("tail", topic, "--from-start", "--last", "2", expect=2)
        self.run_tool("tail", topic, "--count", "x", expect=2)
        self.run_tool("frobnicate", expect=2)
        # runtime errors: exit 1
        p = self.run_tool("lag", "--server", f"nats://127.0.0.1:{free_port()}", expect=1)
        self.assertIn("cannot connect", p.stderr)

    def test_publish_to_missing_stream(self):
        with open(os.path.join(ROOT, "schemas", "fiscal.receipt_issued.v1.avsc")) as f:
            schema = json.load(f)
        sample = {"string": "x", "long": 1, "int": 1, "boolean": True, "double": 1.0}
        payload = {}
        for field in schema["fields"]:
            t = field["type"]
            t = t["type"] if isinstance(t, dict) else t
            t = next(x for x in t if x != "null") if isinstance(t, list) else t
            payload[field["name"]] = sample.get(t, "x") if t != "array" else []
        p = self.run_tool("publish", "fiscal.receipt_issued.v1", json.dumps(payload), expect=1)
        self.assertIn("FISCAL", p.stderr)

    # --- dead letters ---------------------------------------------------------------------

    def dead_letter(self, topic, stream, payload, consumer, error):
        """Publishes an event with the tool, then copies it to dlq.<topic> as a consumer would."""
        event = self.publish(topic, payload)
        _, headers, data, _ = self.nats.stored(stream, event["seq"])
        envelope = {k: v for k, v in headers.items() if k.startswith("Keel-") or k == "traceparent"}
        seq = self.nats.js_publish(f"dlq.{topic}", data, {
            **envelope, "Keel-Dlq-Consumer": consumer, "Keel-Dlq-Error": error,
            "Keel-Dlq-Deliveries": "5", "Keel-Dlq-Stream-Seq": str(event["seq"])})
        return event, data, seq

    def test_dlq_list_and_retry(self):
        topic = "payments.payment_captured.v1"
        captured = {"payment_id": "pay-1", "order_id": "o-1", "user_id": "u-1", "amount": 990, "currency": "EUR",
                    "captured_at": 1714557600000}
        event, data, dlq_seq = self.dead_letter(topic, "PAYMENTS", captured, "fiscal-payments_payment_captured_v1",
                                                "receipt printer on fire")
        profile = {"user_id": "u-2", "email": "a@b.c", "display_name": "A", "telegram_chat_id": None,
                   "updated_at": 1714557600000}
        other, _, other_seq = self.dead_letter("account.profile_updated.v1", "ACCOUNT", profile,
                                               "notifications-account_profile_updated_v1", "boom")

        letters = json.loads(self.run_tool("dlq", "list", "--json").stdout)
        self.assertEqual([d["seq"] for d in letters], [dlq_seq, other_seq])
        d = letters[0]
        self.assertEqual((d["topic"], d["consumer"], d["deliveries"], d["event_id"], d["error"]),
                         (topic, "fiscal-payments_payment_captured_v1", 5, event["event_id"], "receipt printer on fire"))
        self.assertEqual(d["stream_seq"], str(event["seq"]))
        only = json.loads(self.run_tool("dlq", "list", "--topic", "account.profile_updated.v1", "--json").stdout)
        self.assertEqual([x["event_id"] for x in only], [other["event_id"]])
        table = self.run_tool("dlq", "list").stdout
        self.assertRegex(table, r"SEQ\s+TIME\s+TOPIC\s+CONSUMER\s+DELIVERIES\s+EVENT_ID\s+ERROR")
        self.assertRegex(table, rf"{dlq_seq}\s+\S+\s+{re.escape(topic)}\s+fiscal-payments_payment_captured_v1\s+5\s+"
                                rf"{event['event_id']}\s+receipt printer on fire")
        self.run_tool("dlq", "list", "--topic", "nope.v1", expect=2)

        # selectors that match nothing
        self.run_tool("dlq", "retry", "--seq", "999", expect=1)
        self.run_tool("dlq", "retry", "--seq", str(dlq_seq), "--consumer", "someone-else", expect=1)

        out = self.run_tool("dlq", "retry", "--topic", topic).stdout
        self.assertIn("retried 1 dead letter\n", out)
        info = self.nats.api("STREAM.INFO.PAYMENTS")
        self.assertEqual(info["state"]["last_seq"], event["seq"] + 1)
        subject, headers, payload, _ = self.nats.stored("PAYMENTS", event["seq"] + 1)
        self.assertEqual((subject, payload), (topic, data))
        self.assertEqual(headers["Nats-Msg-Id"], f"{event['event_id']}:retry:{dlq_seq}")
        self.assertEqual(headers["Keel-Event-Id"], event["event_id"])
        self.assertEqual(headers["Keel-Correlation-Id"], event["correlation_id"])
        self.assertNotIn("Keel-Dlq-Error", headers)
        remaining = json.loads(self.run_tool("dlq", "list", "--json").stdout)
        self.assertEqual([x["seq"] for x in remaining], [other_seq])

        out = self.run_tool("dlq", "retry", "--consumer", "notifications-account_profile_updated_v1").stdout
        self.assertIn("retried 1 dead letter\n", out)
        self.assertEqual(json.loads(self.run_tool("dlq", "list", "--json").stdout), [])
        self.assertEqual(self.nats.api("STREAM.INFO.DLQ")["state"]["messages"], 0)
        self.assertIn("no dead letters", self.run_tool("dlq", "list").stdout)
        self.assertIn("retried 0 dead letters", self.run_tool("dlq", "retry").stdout)

    # --- lag and replay -------------------------------------------------------------------

    def test_lag_and_replay(self):
        topic = "catalog.stock_reserved.v1"
        seqs = []
        for n in range(1, 6):
            seqs.append(self.publish(topic, {"order_id": f"o-{n}", "user_id": "u", "total": n, "currency": "EUR"})["seq"])
            self.publish("catalog.stock_rejected.v1", {"order_id": f"r-{n}", "user_id": "u", "reason": "none left"})
        durable = "payments-catalog_stock_reserved_v1"
        config = {"durable_name": durable, "filter_subject": topic, "ack_policy": "explicit",
                  "deliver_policy": "all", "ack_wait": 30 * SECOND, "max_deliver": 8, "max_ack_pending": 20000,
                  "inactive_threshold": 8 * 24 * 3600 * SECOND, "num_replicas": 1}
        self.nats.api(f"CONSUMER.DURABLE.CREATE.CATALOG.{durable}", {"stream_name": "CATALOG", "config": config})
        # an ephemeral consumer (someone's tail) is not listed
        self.nats.api("CONSUMER.CREATE.CATALOG", {"stream_name": "CATALOG", "config": {
            "ack_policy": "none", "deliver_policy": "all", "inactive_threshold": 60 * SECOND}})

        def lag_of():
            rows = json.loads(self.run_tool("lag", "--json").stdout)
            self.assertTrue(all(r["consumer"] for r in rows))
            return [r for r in rows if r["stream"] == "CATALOG"]

        self.assertEqual(lag_of(), [{"stream": "CATALOG", "consumer": durable, "pending": 5, "ack_pending": 0,
                                     "redelivered": 0, "last_delivered_seq": 0, "lag": 5}])
        # two delivered, one acknowledged
        msgs = self.nats.request(f"$JS.API.CONSUMER.MSG.NEXT.CATALOG.{durable}", json.dumps({"batch": 2}), count=2)
        self.nats.publish(msgs[0][1], b"+ACK")
        self.nats.request(f"$JS.API.CONSUMER.INFO.CATALOG.{durable}")  # the ack is in before lag asks
        self.assertEqual(lag_of(), [{"stream": "CATALOG", "consumer": durable, "pending": 3, "ack_pending": 1,
                                     "redelivered": 0, "last_delivered_seq": seqs[1], "lag": 4}])
        table = self.run_tool("lag").stdout
        self.assertRegex(table, r"STREAM\s+CONSUMER\s+PENDING\s+ACK_PENDING\s+REDELIVERED\s+LAST_DELIVERED_SEQ\s+LAG")
        self.assertRegex(table, rf"CATALOG\s+{durable}\s+3\s+1\s+0\s+{seqs[1]}\s+4")

        # replay from a stream sequence: same config, new start
        out = self.run_tool("replay", durable, "--from", str(seqs[2])).stdout
        self.assertIn("deleted", out)
        self.assertIn(f"by_start_sequence {seqs[2]}", out)
        info = self.nats.api(f"CONSUMER.INFO.CATALOG.{durable}")
        c = info["config"]
        self.assertEqual((c["deliver_policy"], c["opt_start_seq"]), ("by_start_sequence", seqs[2]))
        for key in ("filter_subject", "ack_policy", "ack_wait", "max_deliver", "max_ack_pending",
                    "inactive_threshold"):
            self.assertEqual(c[key], config[key], key)
        self.assertEqual(c.get("num_replicas", 0), 1)
        self.assertEqual(info["num_pending"], 3)

        # replay from a time (with an offset), found in its stream by name alone
        _, _, _, stamp = self.nats.stored("CATALOG", seqs[3])
        when = datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").astimezone(timezone(timedelta(hours=2)))
        out = self.run_tool("replay", durable, "--from", when.isoformat()).stdout
        self.assertIn("by_start_time", out)
        info = self.nats.api(f"CONSUMER.INFO.CATALOG.{durable}")
        self.assertEqual(info["config"]["deliver_policy"], "by_start_time")
        self.assertNotIn("opt_start_seq", info["config"])
        self.assertEqual(info["num_pending"], 2)
        self.assertEqual(info["config"]["max_deliver"], 8)

        self.run_tool("replay", durable, "--from", "2024-13-01T00:00:00Z", expect=2)
        self.run_tool("replay", durable, "--from", "0", expect=2)
        self.run_tool("replay", durable, "--from", "yesterday", expect=2)
        p = self.run_tool("replay", "nobody-catalog_stock_reserved_v1", "--from", "1", expect=1)
        self.assertIn("no durable consumer", p.stderr)
        self.assertIn(durable, p.stderr)  # the ones that exist
        self.run_tool("replay", durable, "--from", "1", "--stream", "CATALOG")
        self.assertEqual(self.nats.api(f"CONSUMER.INFO.CATALOG.{durable}")["num_pending"], 5)

    # --- trail ----------------------------------------------------------------------------

    def test_trail(self):
        t0 = time.time_ns() // 1000
        e1, e2 = uuid7(), uuid7()

        def record(kind, event, topic, causation, service, instance, start, duration, tags, correlation="req-trail-1"):
            return {"kind": kind, "event_id": event, "topic": topic, "correlation_id": correlation,
                    "causation_id": causation, "hop": {"service": service, "instance": instance,
                                                       "start_us": t0 + start, "duration_us": duration, "tags": tags}}

        placed, reserved = "orders.order_placed.v1", "catalog.stock_reserved.v1"
        records = [
            record("consume", e2, reserved, e1, "payments", "payments-1", 9000, 1000,
                   {"consumer": "payments-catalog_stock_reserved_v1", "topic": reserved, "outcome": "failed"}),
            record("consume", e1, placed, "", "catalog", "catalog-1", 5000, 3000,
                   {"consumer": "catalog-orders_order_placed_v1", "topic": placed, "outcome": "processed"}),
            record("consume", e2, reserved, e1, "payments", "payments-2", 20000, 800,
                   {"consumer": "payments-catalog_stock_reserved_v1", "topic": reserved, "outcome": "processed"}),
            record("publish", e1, placed, "", "orders", "orders-1", 0, 2000,
                   {"request": "POST /api/orders", "emitted": placed}),
            record("publish", e2, reserved, e1, "catalog", "catalog-1", 5000, 2500,
                   {"consumer": "catalog-orders_order_placed_v1", "topic": placed, "emitted": reserved}),
        ]
        for r in records:
            self.nats.js_publish("trail.req-trail-1", json.dumps(r))
        self.nats.js_publish("trail.other", json.dumps(record("publish", uuid7(), placed, "", "orders", "o", 1, 1, {},
                                                              correlation="other")))
        # "req.trail" and "req_trail" share the subject token req_trail: only the asked one shows
        self.nats.js_publish("trail.req_trail", json.dumps(record("publish", uuid7(), placed, "", "orders", "o", 1, 1,
                                                                  {}, correlation="req.trail")))
        self.nats.js_publish("trail.req_trail", json.dumps(record("publish", uuid7(), placed, "", "stranger", "o", 1, 1,
                                                                  {}, correlation="req_trail")))

        expected = [("0.000", "2.000", "orders", "orders-1", "publish", placed, "published"),
                    ("5.000", "3.000", "catalog", "catalog-1", "consume", placed, "processed"),
                    ("5.000", "2.500", "catalog", "catalog-1", "publish", reserved, "published"),
                    ("9.000", "1.000", "payments", "payments-1", "consume", reserved, "failed"),
                    ("20.000", "0.800", "payments", "payments-2", "consume", reserved, "processed")]
        for asked in ("req-trail-1", e2):  # a correlation id, or an event id of the request
            out = self.run_tool("trail", asked).stdout.splitlines()
            self.assertEqual(out[0], "correlation req-trail-1: 5 hops, 2 events published, 20.800 ms")
            self.assertEqual(out[1].split(), ["START_MS", "DURATION_MS", "SERVICE", "INSTANCE", "KIND", "TOPIC",
                                              "OUTCOME"])
            self.assertEqual([tuple(line.split()) for line in out[2:]], expected)

        hops = json.loads(self.run_tool("trail", "req-trail-1", "--json").stdout)
        self.assertEqual(hops["correlation_id"], "req-trail-1")
        self.assertEqual([(h["service"], h["kind"], h["outcome"], h["event_id"]) for h in hops["hops"]],
                         [("orders", "publish", "published", e1), ("catalog", "consume", "processed", e1),
                          ("catalog", "publish", "published", e2), ("payments", "consume", "failed", e2),
                          ("payments", "consume", "processed", e2)])
        self.assertEqual([(h["offset_us"], h["duration_us"]) for h in hops["hops"]],
                         [(0, 2000), (5000, 3000), (5000, 2500), (9000, 1000), (20000, 800)])
        self.assertEqual(hops["hops"][0]["start_us"], t0)

        out = self.run_tool("trail", "req.trail").stdout
        self.assertIn("1 hops", out)
        self.assertNotIn("stranger", out)
        p = self.run_tool("trail", "no-such-request", expect=1)
        self.assertIn("no trail records", p.stderr)
        self.run_tool("trail", uuid7(), expect=1)

    # --- graph ----------------------------------------------------------------------------

    def test_graph(self):
        def declare(service, publishes, consumes):
            self.nats.js_publish(f"keel.registry.{service}", json.dumps({
                "service": service, "instance": f"{service}-1", "publishes": publishes,
                "consumes": [{"topic": t, "consumer": f"{service}-{t.replace('.', '_')}"} for t in consumes],
                "declared_at_us": time.time_ns() // 1000}))

        declare("orders", ["orders.order_cancelled.v1"], [])  # superseded by the next one
        declare("orders", ["orders.order_placed.v1", "orders.order_confirmed.v1"], ["catalog.stock_rejected.v1"])
        declare("catalog", ["catalog.stock_reserved.v1", "catalog.stock_rejected.v1"], ["orders.order_placed.v1"])
        declare("notifications", [], ["orders.order_confirmed.v1"])
        declare("lab", ["lab.ping.v1"], [])

        dot = self.run_tool("graph", "--no-rates").stdout
        self.assertTrue(dot.startswith("digraph keel_bus {"), dot)
        for service in ("orders", "catalog", "notifications", "lab"):
            self.assertIn(f'"service:{service}" [label="{service}", shape=oval', dot)
        for topic in ("orders.order_placed.v1", "orders.order_confirmed.v1", "catalog.stock_reserved.v1",
                      "catalog.stock_rejected.v1", "lab.ping.v1"):
            self.assertIn(f'"topic:{topic}" [label="{topic}", shape=box', dot)
        self.assertNotIn("orders.order_cancelled.v1", dot)
        self.assertIn('"service:orders" -> "topic:orders.order_placed.v1";', dot)
        self.assertIn('"topic:orders.order_placed.v1" -> "service:catalog";', dot)
        self.assertIn('"topic:catalog.stock_rejected.v1" -> "service:orders";', dot)
        self.assertIn('"topic:orders.order_confirmed.v1" -> "service:notifications";', dot)
        self.assertNotIn("/s", dot)

        # rates: lab.ping.v1 traffic while graph measures
        durable = "catalog-orders_order_placed_v1"
        self.nats.api(f"CONSUMER.DURABLE.CREATE.ORDERS.{durable}", {"stream_name": "ORDERS", "config": {
            "durable_name": durable, "filter_subject": "orders.order_placed.v1", "ack_policy": "explicit",
            "deliver_policy": "all"}})
        stop = threading.Event()

        def traffic():
            conn = Nats(self.port)
            while not stop.is_set():
                conn.publish("lab.ping.v1", b"\x02x\x02\x00")
                time.sleep(0.005)
            conn.close()

        thread = threading.Thread(target=traffic)
        thread.start()
        try:
            output = os.path.join(self.dir, "graph.dot")
            self.run_tool("graph", "--output", output, "--window", "1")
        finally:
            stop.set()
            thread.join()
        with open(output) as f:
            dot = f.read()
        rate = re.search(r'"service:lab" -> "topic:lab.ping.v1" \[label="([0-9.]+)/s"\];', dot)
        self.assertIsNotNone(rate, dot)
        self.assertGreater(float(rate.group(1)), 20)
        self.assertRegex(dot, r'"topic:orders.order_placed.v1" -> "service:catalog" \[label="0.0/s"\];')
        self.assertIn('"topic:orders.order_confirmed.v1" -> "service:notifications";', dot)  # no consumer: no rate

        svg = os.path.join(self.dir, "graph.svg")
        self.run_tool("graph", "--format", "svg", "--output", svg, "--no-rates")
        with open(svg) as f:
            text = f.read()
        self.assertIn("<svg", text)
        self.assertIn("orders.order_placed.v1", text)
        self.assertIn("<svg", self.run_tool("graph", "--format", "svg", "--no-rates").stdout)
        self.run_tool("graph", "--format", "png", expect=2)


PG_BIN = "/usr/lib/postgresql/15/bin"


class OutboxTest(unittest.TestCase):
    """keel-bus outbox parked / unpark / republish against a real PostgreSQL (started here)
    whose bus tables are made with the DDL libs/bus runs at start (read from bus.cpp)."""

    @classmethod
    def as_postgres(cls, argv):
        return (["runuser", "-u", "postgres", "--"] + argv) if os.geteuid() == 0 else argv

    @classmethod
    def setUpClass(cls):
        if not os.access(KEEL_BUS, os.X_OK):
            raise RuntimeError(f"{KEEL_BUS} is not built (cmake --build build/release --target keel-bus)")
        cls.dir = tempfile.mkdtemp(prefix="keel-bus-pg-")
        if os.geteuid() == 0:
            shutil.chown(cls.dir, "postgres")
        subprocess.run(cls.as_postgres([f"{PG_BIN}/initdb", "-D", f"{cls.dir}/data", "-U", "postgres",
                                        "--auth=trust", "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True)
        cls.port = free_port()
        cls.log = open(os.path.join(cls.dir, "postgres.log"), "w")
        cls.server = subprocess.Popen(
            cls.as_postgres([f"{PG_BIN}/postgres", "-D", f"{cls.dir}/data", "-p", str(cls.port), "-k", cls.dir,
                             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]),
            stdout=cls.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while subprocess.run([f"{PG_BIN}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(cls.port)]).returncode:
            if time.time() > deadline:
                raise RuntimeError(f"postgres did not start; see {cls.dir}")
            time.sleep(0.1)
        with open(os.path.join(ROOT, "libs/bus/src/bus.cpp")) as f:
            cls.ddl = re.search(r'R"sql\((.*?)\)sql"', f.read(), re.S).group(1)
        cls.sql("postgres", "CREATE DATABASE lab")
        cls.sql("postgres", "CREATE DATABASE empty")
        cls.sql("lab", cls.ddl)

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(20)
        cls.log.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def dsn(cls, db="lab"):
        return f"host=127.0.0.1 port={cls.port} dbname={db} user=postgres"

    @classmethod
    def sql(cls, db, statement):
        p = subprocess.run([f"{PG_BIN}/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", cls.dsn(db), "-c", statement],
                           capture_output=True, text=True, check=True)
        return p.stdout.strip()

    def run_tool(self, *args, expect=0, env=None):
        environment = {k: v for k, v in os.environ.items() if k != "PG_DSN"}
        environment.update(env or {})
        p = subprocess.run([KEEL_BUS, *args], capture_output=True, text=True, timeout=60, env=environment)
        self.assertEqual(p.returncode, expect, f"keel-bus {' '.join(args)}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def setUp(self):
        self.sql("lab", "TRUNCATE bus_outbox; DELETE FROM bus_relay_lease")

    def insert(self, event_id, published_at=None, parked_error=None):
        published = f"'{published_at}'" if published_at else "NULL"
        parked = "now()" if parked_error else "NULL"
        error = "'" + parked_error + "'" if parked_error else "NULL"
        return int(self.sql("lab", "INSERT INTO bus_outbox (event_id, topic, headers, payload, published_at, "
                                   f"parked_at, park_error) VALUES ('{event_id}', 'lab.ping.v1', '{{}}', "
                                   f"'\\x00', {published}, {parked}, {error}) RETURNING seq"))

    def test_parked_lists_what_the_relay_set_aside(self):
        db = ["--service", "lab", "--db", self.dsn()]
        self.assertIn("no parked events in lab's outbox", self.run_tool("outbox", "parked", *db).stdout)
        big, bad = uuid7(), uuid7()
        self.insert(uuid7())
        self.insert(big, parked_error="Maximum Payload Exceeded (1126400 bytes)")
        self.insert(bad, parked_error="malformed headers: not an object")
        out = self.run_tool("outbox", "parked", *db).stdout
        self.assertIn("EVENT_ID", out)
        self.assertIn(big, out)
        self.assertIn("Maximum Payload Exceeded", out)
        self.assertIn(bad, out)
        listed = json.loads(self.run_tool("outbox", "parked", *db, "--json").stdout)
        self.assertEqual([e["event_id"] for e in listed], [big, bad])
        self.assertEqual(listed[0]["topic"], "lab.ping.v1")
        self.assertEqual(listed[1]["error"], "malformed headers: not an object")
        # The DSN from the environment, as in a service's own container.
        env_listed = json.loads(self.run_tool("outbox", "parked", "--service", "lab", "--json",
                                              env={"PG_DSN": self.dsn()}).stdout)
        self.assertEqual(len(env_listed), 2)

    def test_unpark_puts_events_back_and_refuses_bad_input(self):
        db = ["--service", "lab", "--db", self.dsn()]
        first, second, third = uuid7(), uuid7(), uuid7()
        seq = self.insert(first, parked_error="x")
        self.insert(second, parked_error="y")
        self.insert(third, parked_error="z")
        out = self.run_tool("outbox", "unpark", *db, str(seq)).stdout
        self.assertIn(f"seq {seq}: event {first} back in the queue", out)
        self.assertIn("unparked 1 event", out)
        self.assertEqual(self.sql("lab", f"SELECT parked_at IS NULL AND park_error IS NULL FROM bus_outbox "
                                         f"WHERE seq = {seq}"), "t")
        self.run_tool("outbox", "unpark", *db, second.upper())
        # Already unparked, or never there: exit 1, naming it.
        p = self.run_tool("outbox", "unpark", *db, first, expect=1)
        self.assertIn(f"not parked in lab's outbox: {first}", p.stderr)
        p = self.run_tool("outbox", "unpark", *db, "nope", expect=2)
        self.assertIn('"nope" is neither an outbox seq nor an event id', p.stderr)
        self.run_tool("outbox", "unpark", *db, expect=2)
        self.run_tool("outbox", "unpark", *db, "1", "--all", expect=2)
        self.run_tool("outbox", "unpark", "--db", self.dsn(), "--all", expect=2)  # no --service
        self.assertIn("unparked 1 event", self.run_tool("outbox", "unpark", *db, "--all").stdout)
        self.assertEqual(self.sql("lab", "SELECT count(*) FROM bus_outbox WHERE parked_at IS NOT NULL"), "0")

    def test_republish_marks_a_window_unpublished(self):
        db = ["--service", "lab", "--db", self.dsn()]
        early = self.insert(uuid7(), published_at="2024-05-01T10:00:00Z")
        middle = self.insert(uuid7(), published_at="2024-05-01T11:00:00Z")
        late = self.insert(uuid7(), published_at="2024-05-01T12:00:00Z")
        pending = self.insert(uuid7())
        parked = self.insert(uuid7(), parked_error="x")
        unpublished = "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM bus_outbox WHERE published_at IS NULL"
        out = self.run_tool("outbox", "republish", *db, "--since", "2024-05-01T10:30:00Z",
                            "--until", "2024-05-01 13:30:00+02:00").stdout
        self.assertIn("marked 1 published event of lab's outbox", out)
        self.assertIn("no instance of lab relays right now", out)
        self.assertEqual(self.sql("lab", unpublished), f"{middle},{pending},{parked}")
        self.sql("lab", "INSERT INTO bus_relay_lease VALUES ('outbox', 'lab-2', now() + interval '1 minute', now())")
        out = self.run_tool("outbox", "republish", *db, "--since", "2024-05-01T11:30:00Z").stdout
        self.assertIn("marked 1 published event", out)
        self.assertIn("relay lab-2 republishes them", out)
        self.assertEqual(self.sql("lab", unpublished), f"{middle},{late},{pending},{parked}")
        self.assertIn("marked 0 published events", self.run_tool("outbox", "republish", *db, "--since",
                                                                 "2030-01-01T00:00:00Z").stdout)
        self.assertEqual(self.sql("lab", f"SELECT count(*) FROM bus_outbox WHERE seq = {early} AND "
                                         "published_at IS NOT NULL"), "1")
        # Bad input: exit 2 before touching anything.
        p = self.run_tool("outbox", "republish", *db, "--since", "yesterday", expect=2)
        self.assertIn("expected an RFC 3339 time", p.stderr)
        p = self.run_tool("outbox", "republish", *db, "--since", "2024-05-01T12:00:00Z",
                          "--until", "2024-05-01T11:00:00Z", expect=2)
        self.assertIn("--until must be later than --since", p.stderr)
        self.run_tool("outbox", "republish", *db, expect=2)  # --since is required
        p = self.run_tool("outbox", "republish", "--service", "Lab!", "--since", "2024-05-01T12:00:00Z", expect=2)
        self.assertIn("expected a service name", p.stderr)

    def test_a_database_that_is_not_there_or_not_a_services(self):
        p = self.run_tool("outbox", "parked", "--service", "lab", "--db",
                          f"host=127.0.0.1 port={free_port()} dbname=lab user=postgres connect_timeout=2", expect=1)
        self.assertIn("cannot reach the database of lab", p.stderr)
        p = self.run_tool("outbox", "parked", "--service", "lab", "--db", self.dsn("empty"), expect=1)
        self.assertIn("has no bus_outbox", p.stderr)
        # Without --db or PG_DSN: the local stack's database of the service, named in the error.
        p = self.run_tool("outbox", "parked", "--service", "lab", expect=1,
                          env={"PG_PORT": str(free_port()), "LAB_DB_PASSWORD": "secret"})
        self.assertIn("dbname=lab user=lab", p.stderr)
        self.assertNotIn("secret", p.stderr)
        # A URI carries its password in the authority: not printed either.
        p = self.run_tool("outbox", "parked", "--service", "lab", "--db",
                          f"postgresql://lab:urisecret@127.0.0.1:{free_port()}/lab?connect_timeout=2", expect=1)
        self.assertIn("cannot reach the database of lab", p.stderr)
        self.assertNotIn("urisecret", p.stderr)


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    unittest.main(verbosity=2)
