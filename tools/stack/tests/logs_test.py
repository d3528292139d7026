#!/usr/bin/python3
"""Tests of keel-stack's log rotation, `keel-stack logs` (filters, time-ordered merge, follow) and
`keel-stack trace` (the span tree), on synthetic log files; one small real `up -d` with a chatty
replica. Run: /usr/bin/python3 tools/stack/tests/logs_test.py (a few seconds)."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
STACK_DIR = os.path.dirname(HERE)
KEEL_STACK = os.path.join(STACK_DIR, "keel-stack")
sys.dont_write_bytecode = True
sys.path.insert(0, STACK_DIR)

from keel_stack import logs, rotate, trace  # noqa: E402

T0 = 1796040000.0   # 2026-11-30T12:00:00Z


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(round((t % 1) * 1e6)):06d}Z"


def jline(t, **fields):
    return json.dumps(dict({"ts": iso(t)}, **fields)) + "\n"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


# A child that writes numbered lines as fast as it can (stdout, unbuffered)
FAST_WRITER = ("import os,sys\nn=int(sys.argv[1])\nfor i in range(n):\n"
               "    os.write(1, b'line %08d ' % i + b'x' * 80 + b'\\n')\n")


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="keel-logs-test-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, *p):
        full = os.path.join(self.dir, *p)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        return full

    def write(self, rel, text, mode="w"):
        with open(self.path(rel), mode) as f:
            f.write(text)


# -- rotation --------------------------------------------------------------------------------
class RotationTest(TempDirTest):
    def test_limits_from_the_environment(self):
        self.assertEqual(rotate.limits({}), (10 * 1024 * 1024, 3))
        self.assertEqual(rotate.limits({"KEEL_LOG_MAX_BYTES": "4096", "KEEL_LOG_FILES": "5"}), (4096, 5))
        self.assertEqual(rotate.limits({"KEEL_LOG_MAX_BYTES": "ten", "KEEL_LOG_FILES": "0"}), (10 * 1024 * 1024, 3))

    def test_rotates_between_whole_lines_and_keeps_n_files(self):
        p = self.path("log", "svc-1.log")
        f = rotate.RotatingFile(p, max_bytes=1000, files=3)
        lines = [b"%04d " % i + b"y" * 94 + b"\n" for i in range(100)]   # 100 bytes each
        for i in range(0, 100, 7):
            f.write_lines(lines[i:i + 7])
        f.close()
        self.assertEqual(sorted(os.listdir(os.path.dirname(p))), ["svc-1.log", "svc-1.log.1", "svc-1.log.2"])
        kept = read(p + ".2") + read(p + ".1") + read(p)
        for name in (p, p + ".1", p + ".2"):
            self.assertLessEqual(os.path.getsize(name), 1000)
        self.assertEqual(kept, b"".join(lines[-30:]))   # the newest 3 x 10 lines, in order, whole

    def test_tail_reaches_into_the_rotated_file(self):
        """A replica that failed just after a rotation: its last lines are still shown."""
        p = self.path("log", "svc-1.log")
        f = rotate.RotatingFile(p, max_bytes=20, files=3)
        f.write_lines([b"one\n", b"two\n", b"three\n", b"four\n", b"five 5678901234\n"])
        f.close()
        self.assertEqual(read(p), b"five 5678901234\n")
        self.assertEqual(rotate.tail(p, 3), ["three", "four", "five 5678901234"])
        self.assertEqual(rotate.tail(self.path("log", "none.log"), 3), [])

    def test_a_line_longer_than_the_limit_is_kept_whole(self):
        p = self.path("big.log")
        f = rotate.RotatingFile(p, max_bytes=100, files=2)
        f.write_lines([b"a\n", b"b" * 300 + b"\n", b"c\n"])
        f.close()
        self.assertEqual(read(p + ".1"), b"b" * 300 + b"\n")
        self.assertEqual(read(p), b"c\n")

    def test_fast_child_loses_no_line_and_never_waits(self):
        """A child writing ~2 MB as fast as it can through the pump: with room for all of it, every
        line is in the rotated files, in order; each file within the limit."""
        p = self.path("log", "fast-1.log")
        n = 20000
        sink = rotate.RotatingFile(p, max_bytes=100 * 1024, files=40)
        proc = subprocess.Popen([sys.executable, "-c", FAST_WRITER, str(n)], stdout=subprocess.PIPE)
        t = threading.Thread(target=rotate.pump, args=(proc.stdout.fileno(), sink))
        t.start()
        self.assertEqual(proc.wait(30), 0)
        t.join(10)
        self.assertFalse(t.is_alive())
        sink.close()
        proc.stdout.close()
        files = rotate.rotated_paths(p)
        self.assertGreater(len(files), 10)
        data = b"".join(read(x) for x in files)
        got = data.splitlines()
        self.assertEqual(len(got), n)
        self.assertEqual([int(x.split()[1]) for x in got], list(range(n)))
        self.assertTrue(all(os.path.getsize(x) <= 100 * 1024 for x in files))
        self.assertGreater(sink.rotations, 10)

    def test_stalled_output_reader_does_not_block_the_child(self):
        """The terminal (echo) stops reading: the child still runs to its end, its log has every line,
        the echo drops and counts instead of buffering without bound, then says so."""
        p = self.path("log", "chatty.log")
        released = threading.Event()
        written = []

        def stalled_write(data):
            released.wait()
            written.append(data)
        echo = rotate.Echo(stalled_write, max_bytes=64 * 1024)
        sink = rotate.RotatingFile(p, max_bytes=1 << 30, files=3)
        n = 30000   # ~2.7 MB: far more than the echo's 64 KiB and a pipe's 64 KiB
        proc = subprocess.Popen([sys.executable, "-c", FAST_WRITER, str(n)], stdout=subprocess.PIPE)
        t = threading.Thread(target=rotate.pump, args=(proc.stdout.fileno(), sink, echo, "chatty"))
        t.start()
        self.assertEqual(proc.wait(30), 0, "the child was blocked by the stalled reader")
        t.join(10)
        self.assertFalse(t.is_alive())
        proc.stdout.close()
        sink.close()
        self.assertEqual(len(read(p).splitlines()), n)
        with echo.cond:
            self.assertLessEqual(echo.queued, 64 * 1024)
            self.assertGreater(echo.dropped, 0)
        released.set()
        self.assertTrue(echo.drain(10))
        text = b"".join(written)
        self.assertIn(b"lines of output dropped", text)
        self.assertIn(b"chatty | line 00000000 ", text)   # what was queued before the stall

    def test_own_messages_are_not_dropped(self):
        out = []
        gate = threading.Event()
        echo = rotate.Echo(lambda d: (gate.wait(), out.append(d)), max_bytes=100)
        echo.put("svc", [b"x" * 200 + b"\n"] * 5)
        echo.put("keel-stack", [b"svc#1 exited with 1\n"], droppable=False)
        gate.set()
        self.assertTrue(echo.drain(5))
        self.assertIn(b"keel-stack | svc#1 exited with 1\n", out)

    def test_partial_last_line_waits_for_its_end(self):
        s = rotate.LineSplitter(max_line=10)
        self.assertEqual(s.feed(b"abc"), [])
        self.assertEqual(s.feed(b"def\nxy"), [b"abcdef\n"])
        self.assertEqual(s.feed(b"z" * 25), [b"xyzzzzzzzz\n", b"zzzzzzzzzz\n"])   # cut at max_line
        self.assertEqual(s.end(), [b"zzzzzzz\n"])   # EOF: the rest gets its newline
        self.assertEqual(s.end(), [])

    def test_server_file_rotated_and_reopened_on_signal(self):
        """nginx's case: a server writing its own file, reopening it on SIGUSR1. No line is lost:
        until it reopens it writes into the renamed file."""
        p = self.path("nginx", "access.log")
        ready = self.path("ready")
        server = subprocess.Popen([sys.executable, "-c", (
            "import os,signal,sys,time\npath,ready=sys.argv[1],sys.argv[2]\n"
            "f=open(path,'ab',buffering=0)\n"
            "def reopen(*a):\n    global f\n    f=open(path,'ab',buffering=0)\n"
            "signal.signal(signal.SIGUSR1, reopen)\nopen(ready,'w').close()\n"
            "for i in range(6000):\n    f.write(b'%06d ' % i + b'z' * 40 + b'\\n')\n    time.sleep(0.0002)\n"
            # stays until terminated: a SIGUSR1 while Python shuts down would kill it
            "open(ready + '.done','w').close()\ntime.sleep(60)\n"),
            p, ready])
        self.assertTrue(wait_for(lambda: os.path.exists(ready)))
        w = rotate.FileWatcher(max_bytes=20000, files=50)
        w.add(p, lambda: [server.pid] if server.poll() is None else [])
        rotated = 0
        try:
            while not os.path.exists(ready + ".done"):
                self.assertIsNone(server.poll())
                rotated += len(w.check())
                time.sleep(0.02)
            time.sleep(0.1)   # its last reopen, if a signal was just sent
        finally:
            server.terminate()
            server.wait(10)
        self.assertGreater(rotated, 3)
        data = b"".join(read(x) for x in rotate.rotated_paths(p))
        self.assertEqual([int(x.split()[0]) for x in data.splitlines()], list(range(6000)))

    def test_real_nginx_access_log_rotated_without_loss(self):
        """The gateway's case with nginx itself: the access log rotated while requests go on, nginx
        reopening it on SIGUSR1; every request has its line in exactly one of the files."""
        prefix = self.path("nginx", "x")[:-2]
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            port = sk.getsockname()[1]
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1; pid {prefix}/nginx.pid; error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{ client_body_temp_path {prefix}/cb; proxy_temp_path {prefix}/p; fastcgi_temp_path {prefix}/f;
  uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s;
  log_format keel escape=json '{{"msec":$msec,"uri":"$request_uri","status":$status}}';
  access_log {prefix}/access.log keel;
  server {{ listen 127.0.0.1:{port}; location / {{ return 204; }} }} }}
""")
        glob = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
        nginx = subprocess.Popen(["/usr/sbin/nginx", "-p", prefix, "-c", conf, "-g", glob],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def up():
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    return True
                except OSError:
                    return False
            self.assertTrue(wait_for(up), "nginx did not start")
            access = os.path.join(prefix, "access.log")
            w = rotate.FileWatcher(max_bytes=3000, files=100)
            w.add(access, lambda: [nginx.pid])
            rotated = 0
            n = 600
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            for i in range(n):
                conn.request("GET", f"/r/{i}")
                self.assertEqual(conn.getresponse().read(), b"")
                if i % 10 == 0:
                    rotated += len(w.check())
            conn.close()

            def lines():
                return b"".join(read(x) for x in rotate.rotated_paths(access)).splitlines()
            self.assertTrue(wait_for(lambda: len(lines()) >= n), len(lines()))
            self.assertGreaterEqual(rotated, 4)   # ~30 KB of lines, rotated at 3 KB
            uris = sorted(json.loads(x)["uri"] for x in lines())
            self.assertEqual(uris, sorted(f"/r/{i}" for i in range(n)))
            self.assertGreaterEqual(len(rotate.rotated_paths(access)), 5)
        finally:
            nginx.terminate()
            nginx.wait(10)

    def test_file_watcher_ignores_devices_and_relative_paths(self):
        w = rotate.FileWatcher(max_bytes=1, files=2)
        w.add("/dev/stdout", lambda: [])
        w.add("access.log", lambda: [])
        self.assertEqual(w.watched, [])


# -- keel-stack logs -------------------------------------------------------------------------
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER = "00f067aa0ba902b700f067aa0ba902b7"


class LogsTest(TempDirTest):
    def make_logs(self):
        # orders-1: an older rotated file and the current one; a text line between JSON lines
        self.write("var/log/orders-1.log.1", jline(T0 + 0.010, msg="o-old", trace_id=TRACE, correlation_id="req-1")
                   + jline(T0 + 0.030, msg="o-other", trace_id=OTHER))
        self.write("var/log/orders-1.log", jline(T0 + 0.050, msg="o-a", trace_id=TRACE, correlation_id="req-1")
                   + "a text line from orders\n"
                   + jline(T0 + 0.090, msg="o-b", trace_id=TRACE, correlation_id="req-1"))
        self.write("var/log/catalog-1.log", jline(T0 + 0.020, msg="c-a", trace_id=TRACE, correlation_id="req-1")
                   + jline(T0 + 0.070, msg="c-b", trace_id=TRACE) + jline(T0 + 0.080, msg="c-c", trace_id=OTHER))
        self.write("var/log/catalog-2.log", jline(T0 + 0.060, msg="c2-a", trace_id=OTHER))
        # nginx: its own JSON access log (time in msec), keyed by request_id
        self.write("var/nginx/access.log", json.dumps({"time": "2026-11-30T12:00:00+00:00", "msec": T0 + 0.1,
                                                       "request_id": "req-1", "trace_id": TRACE, "method": "POST",
                                                       "uri": "/api/orders", "status": 201,
                                                       "request_time": 0.1}) + "\n")
        self.write("var/log/keel-stack.log", "orders#1 | " + jline(T0 + 0.05, msg="o-a", trace_id=TRACE))
        return os.path.join(self.dir, "var")

    def run_logs(self, var, names=(), traces=(), corrs=(), since=None, lines=None):
        out = []
        flt = logs.Filter(traces, corrs, since)
        code = logs.run(var, list(names), flt, lines, False, lambda: None, out=out.append)
        self.assertEqual(code, 0)
        return b"".join(out).decode()

    def msgs(self, text):
        res = []
        for line in text.splitlines():
            label, sep, rest = line.partition(" | ")
            if not sep:   # one log: no prefix
                label, rest = None, line
            try:
                res.append((label, json.loads(rest).get("msg") or json.loads(rest).get("uri")))
            except ValueError:
                res.append((label, rest))
        return res

    def test_trace_filter_merges_every_instance_in_time_order(self):
        var = self.make_logs()
        got = self.msgs(self.run_logs(var, traces=[TRACE]))
        self.assertEqual(got, [("orders-1", "o-old"), ("catalog-1", "c-a"), ("orders-1", "o-a"),
                               ("catalog-1", "c-b"), ("orders-1", "o-b"), ("gateway-access", "/api/orders")])

    def test_correlation_filter_matches_request_id_of_the_gateway(self):
        var = self.make_logs()
        got = self.msgs(self.run_logs(var, corrs=["req-1"]))
        self.assertEqual([m for _, m in got], ["o-old", "c-a", "o-a", "o-b", "/api/orders"])

    def test_service_selection_and_replica_names(self):
        var = self.make_logs()
        got = self.msgs(self.run_logs(var, names=["catalog"], traces=[OTHER]))
        self.assertEqual(got, [("catalog-2", "c2-a"), ("catalog-1", "c-c")])
        got = self.msgs(self.run_logs(var, names=["catalog#2"], traces=[OTHER]))
        self.assertEqual(got, [("catalog-2", "c2-a")])
        got = self.msgs(self.run_logs(var, names=["gateway"], corrs=["req-1"]))
        self.assertEqual(got, [("gateway-access", "/api/orders")])
        with self.assertRaises(logs.LogsError):
            self.run_logs(var, names=["nope"])

    def test_unfiltered_keeps_text_lines_with_their_file_and_n_per_instance(self):
        var = self.make_logs()
        got = self.msgs(self.run_logs(var, names=["orders"], lines=100))
        self.assertEqual([m for _, m in got], ["o-old", "o-other", "o-a", "a text line from orders", "o-b"])
        got = self.msgs(self.run_logs(var, names=["orders", "catalog-1"], lines=2))
        # the last 2 of each, merged by time (the text line sits right after o-a)
        self.assertEqual(got, [("catalog-1", "c-b"), ("catalog-1", "c-c"), ("orders-1", "a text line from orders"),
                               ("orders-1", "o-b")])
        # no SVC: every log but keel-stack's own (which repeats them)
        labels = {label for label, _ in self.msgs(self.run_logs(var, lines=100))}
        self.assertEqual(labels, {"orders-1", "catalog-1", "catalog-2", "gateway-access"})

    def test_since(self):
        var = self.make_logs()
        got = self.msgs(self.run_logs(var, traces=[TRACE], since=logs.parse_since(iso(T0 + 0.06))))
        self.assertEqual([m for _, m in got], ["c-b", "o-b", "/api/orders"])
        self.assertAlmostEqual(logs.parse_since("10m", now=1000.0), 400.0)
        self.assertAlmostEqual(logs.parse_since("250ms", now=1000.0), 999.75)
        with self.assertRaises(logs.LogsError):
            logs.parse_since("yesterday")

    def test_text_line_times(self):
        ts = logs.text_time(b"2026-11-30 12:00:00.250 UTC [42] LOG:  database system is ready\n")
        self.assertAlmostEqual(ts, T0 + 0.25, places=3)
        self.assertIsNotNone(logs.text_time(b"[7] 2026/11/30 12:00:00.123456 [INF] Server is ready\n"))
        self.assertIsNotNone(logs.text_time(b"1:M 30 Nov 2026 12:00:00.123 * Ready to accept connections\n"))
        self.assertIsNone(logs.text_time(b"no time here\n"))
        self.assertAlmostEqual(logs.parse_time_value("2026-11-30T12:00:00.123456789Z"), T0 + 0.123456, places=5)
        self.assertAlmostEqual(logs.parse_time_value(T0 * 1000), T0)

    def test_partially_written_last_line_is_not_shown(self):
        self.write("var/log/web-1.log", jline(T0, msg="whole", trace_id=TRACE) + '{"ts":"' + iso(T0 + 1)
                   + '","msg":"half')
        var = os.path.join(self.dir, "var")
        got = self.msgs(self.run_logs(var, traces=[TRACE]))
        self.assertEqual(got, [("web-1", "whole")])
        self.assertEqual(self.msgs(self.run_logs(var, lines=10)), [(None, "whole")])

    def test_follow_across_rotation_and_partial_lines(self):
        p = self.path("var", "log", "web-1.log")
        self.write("var/log/web-1.log", "old\n")
        src = logs.Source("web-1", p, 0)
        fol = logs.Follower(src, at_end=True)
        self.assertEqual(fol.poll(), [])
        with open(p, "a") as f:
            f.write("one\ntw")
        self.assertEqual(fol.poll(), [b"one\n"])   # "tw" waits for its newline
        with open(p, "a") as f:
            f.write("o\nthree\n")
        os.replace(p, p + ".1")                    # rotated ...
        with open(p + ".1", "a") as f:             # ... after a last write to the old file
            f.write("four\n")
        with open(p, "w") as f:
            f.write("five\n")
        self.assertEqual(fol.poll(), [b"two\n", b"three\n", b"four\n", b"five\n"])
        self.assertEqual(fol.poll(), [])
        fol.close()

    def test_follow_filters_and_prefixes(self):
        """-f: the last lines, then what comes, filtered; a line written while the files were read is
        printed once."""
        var = self.make_logs()
        out, stop = [], threading.Event()
        t = threading.Thread(target=logs.run, args=(var, ["catalog"], logs.Filter([TRACE]), None, True,
                                                    lambda: None), kwargs={"out": out.append, "stop": stop.is_set,
                                                                           "poll": 0.02})
        t.start()
        try:
            self.assertTrue(wait_for(lambda: b"c-b" in b"".join(out)))
            with open(os.path.join(var, "log", "catalog-2.log"), "a") as f:
                f.write(jline(T0 + 1, msg="late", trace_id=TRACE) + jline(T0 + 1, msg="nope", trace_id=OTHER))
            self.assertTrue(wait_for(lambda: b"late" in b"".join(out)))
        finally:
            stop.set()
            t.join(5)
        self.assertEqual(self.msgs(b"".join(out).decode()), [("catalog-1", "c-a"), ("catalog-1", "c-b"),
                                                             ("catalog-2", "late")])

    def test_cli(self):
        var = self.make_logs()
        p = subprocess.run([KEEL_STACK, "--var-dir", var, "logs", "--trace", TRACE, "orders"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([m for _, m in self.msgs(p.stdout)], ["o-old", "o-a", "o-b"])
        p = subprocess.run([KEEL_STACK, "--var-dir", var, "logs", "nope"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no log for nope", p.stderr)


# -- keel-stack trace ------------------------------------------------------------------------
def span(t_end, name, kind, service, inst, sid, parent, dur, **kw):
    return jline(t_end, service=service, instance=inst, msg="span", trace_id=TRACE, span_id=sid,
                 parent_span_id=parent, correlation_id="req-9", span=name, span_kind=kind, duration_ms=dur, **kw)


class TraceTest(TempDirTest):
    def make(self):
        # gateway 0..120 ms; orders server 2..110 -> client 10..30 -> catalog server 12..28;
        # orders producer 40..42 -> payments consumer 50..80 -> fiscal consumer 85..95 (in other files)
        self.write("var/nginx/access.log", json.dumps({"msec": T0 + 0.120, "request_id": "req-9", "trace_id": TRACE,
                                                       "span_id": "a000000000000001", "method": "POST",
                                                       "uri": "/api/orders", "status": 201,
                                                       "request_time": "0.120"}) + "\n")
        self.write("var/log/orders-1.log.1", span(T0 + 0.030, "POST catalog /internal/reserve", "client", "orders",
                                                  "orders-1", "b000000000000002", "b000000000000001", 20, status=200))
        self.write("var/log/orders-1.log",
                   jline(T0 + 0.035, level="warn", msg="slow reserve", trace_id=TRACE, span_id="b000000000000001")
                   + span(T0 + 0.042, "publish orders.order_placed.v1", "producer", "orders", "orders-1",
                          "b000000000000003", "b000000000000001", 2)
                   + span(T0 + 0.110, "POST /api/orders", "server", "orders", "orders-1", "b000000000000001",
                          "a000000000000001", 108, status=201))
        self.write("var/log/orders-2.log", span(T0 + 0.100, "GET catalog /products/1", "client", "orders", "orders-2",
                                                "b200000000000001", "b000000000000001", 3, status=0,
                                                error="connection refused"))
        self.write("var/log/catalog-2.log", span(T0 + 0.028, "POST /internal/reserve", "server", "catalog",
                                                 "catalog-2", "c000000000000001", "b000000000000002", 16, status=200))
        self.write("var/log/payments-1.log", span(T0 + 0.080, "consume orders.order_placed.v1", "consumer", "payments",
                                                  "payments-1", "d000000000000001", "b000000000000003", 30,
                                                  outcome="processed"))
        self.write("var/log/fiscal-1.log", span(T0 + 0.095, "consume payments.payment_captured.v1", "consumer",
                                                "fiscal", "fiscal-1", "e000000000000001", "d000000000000001", 10,
                                                outcome="processed")
                   + jline(T0 + 0.5, msg="unrelated", trace_id=OTHER, span="x", span_kind="server", duration_ms=1))
        return os.path.join(self.dir, "var")

    def test_tree_in_time_order(self):
        t = trace.build(self.make(), TRACE)
        rows = [(s.name, s.depth, round((s.start - t.t0) * 1000, 3)) for s, _, _ in t.ordered()]
        self.assertEqual(rows, [("POST /api/orders", 0, 0.0),
                                ("POST /api/orders", 1, 2.0),
                                ("POST catalog /internal/reserve", 2, 10.0),
                                ("POST /internal/reserve", 3, 12.0),
                                ("publish orders.order_placed.v1", 2, 40.0),
                                ("consume orders.order_placed.v1", 3, 50.0),
                                ("consume payments.payment_captured.v1", 4, 85.0),
                                ("GET catalog /products/1", 2, 97.0)])
        self.assertEqual(t.correlation_ids, ["req-9"])
        text = t.render()
        lines = text.splitlines()
        self.assertTrue(lines[0].startswith(f"trace {TRACE}: 8 spans in 5 services "
                                            "(gateway, orders, catalog, payments, fiscal), 120.000 ms"), lines[0])
        self.assertRegex(lines[2], r"^\s+0\.000\s+120\.000  201\s+gateway-access\s+server\s+POST /api/orders$")
        self.assertRegex(lines[3], r"^\s+2\.000\s+108\.000  201\s+orders-1\s+server\s+└─ POST /api/orders$")
        self.assertRegex(lines[4], r"^\s+   ! warn: slow reserve$")   # a warning of the orders span
        self.assertRegex(lines[5], r"^\s+10\.000\s+20\.000  200\s+orders-1\s+client\s+   ├─ POST catalog ")
        self.assertRegex(lines[6], r"^\s+12\.000\s+16\.000  200\s+catalog-2\s+server\s+   │  └─ POST /internal/")
        self.assertRegex(lines[7], r"^\s+40\.000\s+2\.000\s+orders-1\s+producer\s+   ├─ publish ")
        self.assertRegex(lines[8], r"^\s+50\.000\s+30\.000  processed\s+payments-1\s+consumer\s+   │  └─ consume ")
        self.assertRegex(lines[9], r"^\s+85\.000\s+10\.000  processed\s+fiscal-1\s+consumer\s+   │     └─ consume ")
        self.assertRegex(lines[10], r"^\s+97\.000\s+3\.000  error\s+orders-2\s+client\s+   └─ GET catalog ")
        self.assertRegex(lines[11], r"^\s+      ! error: connection refused$")
        self.assertIn("9 log lines in 6 logs", lines[12])

    def test_json_and_lookup_by_correlation_id(self):
        var = self.make()
        p = subprocess.run([KEEL_STACK, "--var-dir", var, "trace", "req-9", "--json"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["trace_ids"], [TRACE])
        self.assertEqual([(s["service"], s["kind"], s["offset_ms"]) for s in doc["spans"]],
                         [("gateway", "server", 0.0), ("orders", "server", 2.0), ("orders", "client", 10.0),
                          ("catalog", "server", 12.0), ("orders", "producer", 40.0), ("payments", "consumer", 50.0),
                          ("fiscal", "consumer", 85.0), ("orders", "client", 97.0)])
        self.assertEqual(doc["duration_ms"], 120.0)
        p = subprocess.run([KEEL_STACK, "--var-dir", var, "trace", TRACE], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("└─ consume payments.payment_captured.v1", p.stdout)

    def test_missing_parent_and_unknown_trace(self):
        self.write("var/log/a-1.log", span(T0 + 0.01, "GET /x", "server", "a", "a-1", "f000000000000001",
                                           "9999999999999999", 5)
                   + span(T0 + 0.02, "GET /y", "server", "a", "a-1", "f000000000000002", "", 5))
        var = os.path.join(self.dir, "var")
        text = trace.build(var, TRACE).render()
        self.assertIn("GET /x   (parent 9999999999999999 not in the logs)", text)
        p = subprocess.run([KEEL_STACK, "--var-dir", var, "trace", OTHER], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"no span of trace {OTHER}", p.stderr)

    def test_bus_trail_section(self):
        var = self.make()
        t = trace.build(var, TRACE)
        hop = {"offset_us": 0, "duration_us": 2000, "service": "orders", "instance": "orders-1", "kind": "publish",
               "topic": "orders.order_placed.v1", "outcome": "published", "event_id": "e1",
               "start_us": int((T0 + 0.045) * 1e6)}

        class Done:
            returncode, stdout, stderr = 0, json.dumps({"correlation_id": "req-9", "hops": [hop]}), ""
        calls = []
        bus = self.path("bin", "keel-bus")
        self.write("bin/keel-bus", "#!/bin/sh\nexit 1\n")
        os.chmod(bus, 0o755)
        os.environ["KEEL_BUS"] = bus
        try:
            t.add_trail(trace.bus_trail(self.dir, var, t.correlation_ids, {"exports": {"NATS_URL": "nats://x:1"}},
                                        run=lambda argv, **kw: (calls.append(argv), Done)[1]))
        finally:
            del os.environ["KEEL_BUS"]
        self.assertEqual(calls, [[bus, "--server", "nats://x:1", "trail", "req-9", "--json"]])
        text = t.render()
        self.assertIn("JetStream trail (keel-bus trail req-9): 1 hops", text)
        self.assertRegex(text, r"\n\s+45\.000\s+2\.000  published\s+orders-1\s+publish\s+orders\.order_placed\.v1")


# -- a real stack ------------------------------------------------------------------------------
CHATTY = """
services:
  chatty:
    x-native:
      command: [/usr/bin/python3, "%(script)s"]
      healthcheck: none
  gw:
    x-native:
      nginx: {template: "%(template)s"}
      healthcheck: {tcp: "127.0.0.1:${PORT}"}
"""
# a minimal gateway: keel-stack renders it and runs nginx like the real one (its access log included)
GW_TEMPLATE = """worker_processes 1;
pid ${NGINX_PREFIX}/nginx.pid;
error_log ${NGINX_PREFIX}/error.log warn;
events { worker_connections 64; }
http {
    client_body_temp_path ${NGINX_PREFIX}/cb; proxy_temp_path ${NGINX_PREFIX}/p;
    fastcgi_temp_path ${NGINX_PREFIX}/f; uwsgi_temp_path ${NGINX_PREFIX}/u; scgi_temp_path ${NGINX_PREFIX}/s;
    log_format keel escape=json '{"msec":$msec,"uri":"$request_uri","trace_id":"$arg_t"}';
    access_log ${ACCESS_LOG};
    server { listen ${GATEWAY_HOST}:${GATEWAY_PORT}; location / { return 204; } }
}
"""
CHATTY_SCRIPT = """import sys, time
i = 0
while True:
    sys.stdout.write('{"ts":"2026-11-30T12:00:00Z","msg":"n%08d"}\\n' % i)
    i += 1
    if i % 200 == 0:
        sys.stdout.flush()
        time.sleep(0.01)
"""


class StackTest(TempDirTest):
    def test_up_detached_rotates_a_chatty_replica(self):
        script = self.path("chatty.py")
        with open(script, "w") as f:
            f.write(CHATTY_SCRIPT)
        template = self.path("gw.conf.template")
        with open(template, "w") as f:
            f.write(GW_TEMPLATE)
        compose = self.path("chatty.yaml")
        with open(compose, "w") as f:
            f.write(CHATTY % {"script": script, "template": template})
        var = os.path.join(self.dir, "var")
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            internal = sk.getsockname()[1]
        env = dict(os.environ, KEEL_LOG_MAX_BYTES="20000", KEEL_LOG_FILES="3", INTERNAL_GATEWAY_PORT=str(internal))
        env.pop("GATEWAY_ACCESS_LOG", None)

        def ks(*args, timeout=60):
            return subprocess.run([KEEL_STACK, "-f", compose, "--var-dir", var] + list(args), env=env,
                                  capture_output=True, text=True, timeout=timeout)
        p = ks("up", "-d", "--timeout", "30")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        try:
            log = os.path.join(var, "log", "chatty.log")
            self.assertTrue(wait_for(lambda: os.path.exists(log + ".2") and os.path.exists(
                os.path.join(var, "log", "keel-stack.log.2")), 30), os.listdir(os.path.join(var, "log")))
            def files(prefix):   # listed between two renames of a rotation, .1 may be missing a moment
                return [n for n in sorted(os.listdir(os.path.join(var, "log"))) if n.startswith(prefix)]
            for prefix in ("chatty", "keel-stack"):
                expected = [f"{prefix}.log", f"{prefix}.log.1", f"{prefix}.log.2"]
                self.assertTrue(wait_for(lambda: files(prefix) == expected, 5), files(prefix))
            for _ in range(20):   # while it goes on writing, no file grows over the limit, none is added
                for n in files(""):
                    self.assertIn(n.rsplit(".log", 1)[1], ("", ".1", ".2"), n)
                    try:
                        self.assertLessEqual(os.path.getsize(os.path.join(var, "log", n)), 20000, n)
                    except FileNotFoundError:
                        pass
                time.sleep(0.02)
            # consecutive numbers across the rotated files: nothing lost at a rotation
            nums = [int(json.loads(x)["msg"][1:]) for x in (read(log + ".1") + read(log)).splitlines()
                    if x.endswith(b"}")]
            self.assertEqual(nums, list(range(nums[0], nums[0] + len(nums))))
            p = ks("logs", "chatty", "-n", "5")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(len(p.stdout.splitlines()), 5)
            st = json.loads(ks("ps", "--json").stdout)
            self.assertEqual(st["services"]["chatty"]["replicas"][0]["state"], "running")
            # the gateway's access log: rotated by the watcher (nginx reopens it on SIGUSR1)
            access = os.path.join(var, "nginx", "access.log")
            self.assertEqual(st["logs"], {"gw-access": access, "gw-error": os.path.join(var, "nginx", "error.log")})
            conn = http.client.HTTPConnection("127.0.0.1", st["services"]["gw"]["replicas"][0]["port"], timeout=5)
            def size(path):   # renamed, not yet reopened by nginx: missing a moment
                try:
                    return os.path.getsize(path)
                except OSError:
                    return 1 << 40
            # 3 x 300 lines of ~100 bytes, each batch over the limit: after each, the watcher (every
            # second) renames the file and nginx reopens it
            for batch in range(3):
                for i in range(batch * 300, batch * 300 + 300):
                    conn.request("GET", f"/r/{i}?t={TRACE if i == 899 else OTHER}")
                    r = conn.getresponse()
                    r.read()
                    self.assertEqual(r.status, 204)
                self.assertTrue(wait_for(lambda: size(access) < 20000 and os.path.exists(
                    access + f".{batch + 1 if batch < 2 else 2}"), 15),
                    [(n, os.path.getsize(os.path.join(os.path.dirname(access), n)))
                     for n in sorted(os.listdir(os.path.dirname(access)))])
            conn.close()
            self.assertFalse(os.path.exists(access + ".3"))
            p = ks("logs", "--trace", TRACE)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual([json.loads(x.split(" | ", 1)[1])["uri"] for x in p.stdout.splitlines()],
                             ["/r/899?t=" + TRACE])
            self.assertTrue(p.stdout.startswith("gw-access | "), p.stdout)
        finally:
            p = ks("down")
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
