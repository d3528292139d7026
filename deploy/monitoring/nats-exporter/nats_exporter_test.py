#!/usr/bin/python3
"""nats_exporter.py against a real nats-server with JetStream (started here on free ports): a
stream with messages, a pull consumer with deliveries, an acknowledged, a redelivered and so
unacknowledged message;
the exporter's /metrics says so, passes `promtool check metrics`, and reports a node that does not
answer as nats_up 0 without failing the scrape.

    /usr/bin/python3 deploy/monitoring/nats-exporter/nats_exporter_test.py
"""
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EXPORTER = os.path.join(HERE, "nats_exporter.py")
NATS_SERVER = "/usr/sbin/nats-server"
PROMTOOL = "/usr/bin/promtool"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Client:
    """Just enough of the NATS protocol: publish and request/reply."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.sid = 0
        self._line()   # INFO
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nPING\r\n')
        while self._line() != b"PONG":
            pass

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise OSError("NATS closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _payload(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def publish(self, subject, payload, reply=""):
        reply = f" {reply}" if reply else ""
        self.sock.sendall(f"PUB {subject}{reply} {len(payload)}\r\n".encode() + payload + b"\r\n")

    def request(self, subject, payload=b"", count=1):
        """The first `count` messages sent to a fresh inbox after publishing to subject."""
        self.sid += 1
        inbox = f"_INBOX.{secrets.token_hex(6)}"
        self.sock.sendall(f"SUB {inbox} {self.sid}\r\nUNSUB {self.sid} {count}\r\n".encode())
        self.publish(subject, payload, reply=inbox)
        out = []
        while len(out) < count:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
                continue
            if line.startswith(b"-ERR"):
                raise AssertionError(line.decode())
            if line.startswith(b"MSG"):
                parts = line.decode().split()
                out.append((parts[3] if len(parts) == 5 else "", self._payload(int(parts[-1]))))
        return out

    def api(self, name, body):
        answer = json.loads(self.request("$JS.API." + name, json.dumps(body).encode())[0][1])
        if "error" in answer:
            raise AssertionError(f"{name}: {answer['error']}")
        return answer


def parse(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    found = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


class NatsExporterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="keel-nats-exporter-")
        cls.port, cls.monitor = free_port(), free_port()
        cls.nats = subprocess.Popen([NATS_SERVER, "-js", "-sd", cls.dir, "-a", "127.0.0.1", "-p", str(cls.port),
                                     "-m", str(cls.monitor), "--server_name", "exporter-test"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _NO_PROXY.open(f"http://127.0.0.1:{cls.monitor}/healthz", timeout=1).status == 200,
                 "nats-server")
        cls.dead = free_port()   # nothing listens there
        cls.listen = free_port()
        urls = f"http://127.0.0.1:{cls.monitor},http://127.0.0.1:{cls.dead}"
        cls.exporter = subprocess.Popen([sys.executable, EXPORTER, "--listen", f"127.0.0.1:{cls.listen}",
                                         "--urls", urls, "--timeout", "2"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: cls.get("/healthz")[0] == 200, "the exporter")

    @classmethod
    def tearDownClass(cls):
        for p in (cls.exporter, cls.nats):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        cls.exporter.stderr.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def get(cls, path):
        try:
            with _NO_PROXY.open(f"http://127.0.0.1:{cls.listen}{path}", timeout=10) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def metrics(self):
        status, ctype, text = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        return text

    def test_streams_consumers_and_nodes(self):
        nc = Client(self.port)
        try:
            nc.api("STREAM.CREATE.ORDERS", {"name": "ORDERS", "subjects": ["orders.>"], "storage": "file"})
            for i in range(5):
                nc.request("orders.placed", b'{"n":%d}' % i)   # JetStream acknowledges each publish
            nc.api("CONSUMER.DURABLE.CREATE.ORDERS.payments",
                   {"stream_name": "ORDERS", "config": {"durable_name": "payments", "ack_policy": "explicit",
                                                        "deliver_policy": "all"}})
            first = nc.request("$JS.API.CONSUMER.MSG.NEXT.ORDERS.payments", b'{"batch":2}', count=2)
            # the first acknowledged, the second refused (delivered again, before any new one); as
            # requests: the server answers once it has taken each, so the next pull sees both
            nc.request(first[0][0], b"+ACK")
            nc.request(first[1][0], b"-NAK")
            again = nc.request("$JS.API.CONSUMER.MSG.NEXT.ORDERS.payments", b'{"batch":1}', count=1)
            self.assertEqual(again[0][1], first[1][1])
        finally:
            nc.close()

        text = self.metrics()
        s = parse(text)
        self.assertEqual(value(s, "nats_up", url=f"http://127.0.0.1:{self.monitor}", server="exporter-test"), 1)
        self.assertEqual(value(s, "nats_up", url=f"http://127.0.0.1:{self.dead}"), 0)
        self.assertEqual(value(s, "nats_jetstream_stream_messages", stream="ORDERS"), 5)
        self.assertGreater(value(s, "nats_jetstream_stream_bytes", stream="ORDERS"), 0)
        self.assertEqual(value(s, "nats_jetstream_stream_consumers", stream="ORDERS"), 1)
        self.assertEqual(value(s, "nats_jetstream_stream_leader", stream="ORDERS"), 1)
        c = {"stream": "ORDERS", "consumer": "payments", "server": "exporter-test"}
        self.assertEqual(value(s, "nats_jetstream_consumer_num_pending", **c), 3)       # never delivered
        self.assertEqual(value(s, "nats_jetstream_consumer_num_ack_pending", **c), 1)   # the second
        self.assertEqual(value(s, "nats_jetstream_consumer_num_redelivered", **c), 1)
        self.assertEqual(value(s, "nats_jetstream_consumer_delivered_total", **c), 3)   # 2 + 1 redelivery
        self.assertEqual(value(s, "nats_jetstream_consumer_ack_floor_stream_seq", **c), 1)
        self.assertGreaterEqual(value(s, "nats_connections", server="exporter-test"), 0)
        self.assertGreater(value(s, "nats_in_msgs_total", server="exporter-test"), 0)

        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True,
                               timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(check.stdout + check.stderr, "")   # no lint warning either

    def test_escaping_and_unknown_paths(self):
        import nats_exporter
        samples = nats_exporter.Samples()
        samples.add("nats_jetstream_stream_messages", {"stream": 'a"b\\c\nd'}, 2)
        self.assertIn('stream="a\\"b\\\\c\\nd"} 2', samples.text())
        status, ctype, _ = self.get("/nope")
        self.assertEqual((status, ctype), (404, "application/problem+json"))


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    unittest.main(verbosity=2)
