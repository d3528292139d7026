#!/usr/bin/python3
"""The release bot end to end (issue 10 F): a whole native stack whose binaries come from a build
directory of the test's own (symlinks to build/release, catalog a copy the test changes, as a
`make build` would), the Telegram fake standing in for the ops bot's chats.

- a command from a chat not on the allow-list is refused and changes nothing;
- /release catalog with a healthy new build rolls both instances, with no failed request under a
  steady GET load through the gateway, and is announced in the release topic;
- /release catalog with a build that never gets ready stops at the first instance, rolls it back
  to the previous binary and says so; both instances run the previous release again;
- /rollback catalog goes back to the release before (and `keel-stack releases` lists them);
- /status and /history answer from keel-stack and the audit log.

Run: /usr/bin/python3 tests/e2e/release_test.py (ctest e2e_release; about a minute)."""
import glob
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack_fixture import REPO, Stack  # noqa: E402

OPS_CHAT, RELEASE_THREAD, STRANGER = -1009990001, 5, 4242
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_json(method, url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with _NO_PROXY.open(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def make_build_dir(real):
    """A build dir of symlinks to `real`'s service binaries, catalog's a copy of its own."""
    d = tempfile.mkdtemp(prefix="keel-release-build-")
    for exe in glob.glob(os.path.join(real, "services", "*", "keel-*")):
        rel = os.path.relpath(exe, real)
        os.makedirs(os.path.join(d, os.path.dirname(rel)), exist_ok=True)
        if rel == os.path.join("services", "catalog", "keel-catalog"):
            shutil.copy2(exe, os.path.join(d, rel))
        else:
            os.symlink(exe, os.path.join(d, rel))
    return d


class GetLoad:
    """A steady GET load through the gateway, a few requests at a time, until stop()."""

    def __init__(self, url, threads=2, pause=0.02):
        self.url, self.pause = url, pause
        self.ok = 0
        self.failures = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        while not self.stopping.is_set():
            try:
                with _NO_PROXY.open(self.url, timeout=10) as r:
                    r.read()
                    good = r.status == 200
                    what = r.status
            except Exception as e:   # any failure counts: HTTP errors, resets, timeouts
                good, what = False, repr(e)
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.failures.append(what)
            time.sleep(self.pause)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(15)


class FakeReplica:
    """What Releases uses of supervisor.Replica: a restart (signal_stop with restart_now) starts a
    new generation that becomes healthy unless its binary says "broken"."""

    def __init__(self, sup, svc, n, port):
        self.sup, self.svc, self.n, self.port, self.ports = sup, svc, n, port, {}
        self.label, self.lock = f"{svc.name}#{n}", threading.Lock()
        self.gen, self.failed_starts, self.state, self.paused = 1, 0, "running", False
        self.restart_now = False
        self.healthy, self.done, self.wake = threading.Event(), threading.Event(), threading.Event()
        self.healthy.set()
        self.proc = type("P", (), {"pid": 1000 + n})()
        self.ran = [sup.releases_command(self)]

    def signal_stop(self, grace):
        with self.lock:
            self.healthy.clear()
            self.restart_now = False
            self.gen += 1
        binary = self.sup.releases_command(self)
        self.ran.append(binary)
        with open(binary, "rb") as f:
            if b"broken" not in f.read():
                self.healthy.set()


class ReleasesWithoutAStack(unittest.TestCase):
    """tools/stack/keel_stack/release.py on its own: storing, rolling, rolling back, refusing."""

    def setUp(self):
        sys.path.insert(0, os.path.join(REPO, "tools", "stack"))
        from keel_stack import release
        self.release = release
        self.root = tempfile.mkdtemp(prefix="keel-release-unit-")
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        os.makedirs(os.path.join(self.root, "build", "services", "web"))
        self.binary = os.path.join(self.root, "build", "services", "web", "keel-web")
        shutil.copy("/bin/true", self.binary)   # an ELF of the build
        self.metrics = MetricsServer()
        self.addCleanup(self.metrics.close)
        svc = type("Svc", (), {"name": "web", "nginx": None, "stop_grace": 1,
                               "command": ["build/services/web/keel-web", "--flag"]})()
        sup = type("Sup", (), {})()
        sup.root, sup.var_dir, sup.order = self.root, os.path.join(self.root, "var"), ["web"]
        sup.services, sup.base_env, sup.sock_path = {"web": svc}, {"KEEL_BUILD_DIR": "build"}, "/x.sock"
        sup.phase, sup.stop_event, sup.say = "running", threading.Event(), lambda msg: None
        sup.releases_command = lambda r: self.releases.command(r, svc.command)[0]
        for k, v in (("KEEL_STACK_RELEASE_READY_TIMEOUT", "2"), ("KEEL_STACK_RELEASE_CHECK_S", "0.2")):
            os.environ[k] = v
            self.addCleanup(os.environ.pop, k, None)
        self.releases = release.Releases(sup)
        self.releases.adopt()
        sup.replicas = {"web": [FakeReplica(sup, svc, n, self.metrics.port) for n in (1, 2)]}
        self.sup, self.lines = sup, []

    def build(self, text):
        with open(self.binary, "w") as f:
            f.write(f"#!/bin/sh\n# {text}\necho keel-web 0123abcd4567 built 2026-11-30T00:00:00Z\n")
        os.chmod(self.binary, 0o755)

    def roll(self, **kw):
        return self.releases.roll("web", self.lines.append, **kw)

    def test_parse_metrics_and_verdict(self):
        text = ('# TYPE http_requests_total counter\n'
                'keel_build_info{service="web",version="0123abcd4567",built="x"} 1\n'
                'http_requests_total{route="/a",method="GET",status="200"} 90\n'
                'http_requests_total{route="/a",method="GET",status="503"} 10\n')
        self.assertEqual(self.release.parse_metrics(text), ("0123abcd4567", 100.0, 10.0))
        verdict = self.release.error_verdict
        self.assertIsNone(verdict((None, 100, 10), (None, 200, 11), 0.05))
        self.assertIn("5 of 100 requests answered 5xx", verdict((None, 100, 10), (None, 200, 15), 0.04))
        self.assertIsNone(verdict((None, 100, 10), (None, 100, 10), 0.05))   # no traffic
        self.assertEqual(verdict(None, (None, 1, 0), 0.05), "its /metrics did not answer")

    def test_up_runs_a_stored_copy(self):
        cur = self.releases.current["web"]
        self.assertEqual(cur["hash"], self.release.file_hash(self.binary))
        r = self.sup.replicas["web"][0]
        self.assertEqual(self.releases.command(r, ["ignored", "--flag"]), [cur["path"], "--flag"])
        self.assertTrue(cur["path"].startswith(os.path.join(self.root, "var", "releases", "web", cur["hash"])))

    def test_release_then_rollback(self):
        first = self.releases.current["web"]["hash"]
        self.build("v2")
        result = self.roll()
        self.assertEqual(result["outcome"], "released", self.lines)
        self.assertEqual(result["to"]["commit"], "0123abcd4567")
        second = self.releases.current["web"]["hash"]
        self.assertEqual(self.releases.previous["web"]["hash"], first)
        for r in self.sup.replicas["web"]:
            self.assertEqual(r.gen, 2)
            self.assertIn(second, r.ran[-1])
        self.assertEqual(self.roll()["outcome"], "unchanged")
        result = self.roll(rollback=True)
        self.assertEqual(result["outcome"], "released")
        # the release rolled away from is not offered again: a second rollback is refused
        self.assertEqual((self.releases.current["web"]["hash"], self.releases.previous["web"]),
                         (first, None))
        with open(os.path.join(self.root, "var", "releases", "web", "state.json")) as f:
            self.assertEqual(json.load(f), {"current": first, "previous": None})
        again = self.roll(rollback=True)
        self.assertEqual((again["outcome"], again["error"]), ("refused", "web has no previous release"))
        self.assertEqual(self.releases.current["web"]["hash"], first)

    def test_a_release_that_never_gets_ready_is_rolled_back(self):
        first = self.releases.current["web"]["hash"]
        self.build("broken")
        result = self.roll()
        self.assertEqual(result["outcome"], "rolled_back", self.lines)
        self.assertEqual(result["replica"], "web#1")
        self.assertIn("not ready after 2s", result["error"])
        r1, r2 = self.sup.replicas["web"]
        self.assertEqual(len(r1.ran), 3)          # first, broken, first again
        self.assertIn(first, r1.ran[-1])
        self.assertEqual(len(r2.ran), 1)          # never touched
        self.assertEqual(self.releases.current["web"]["hash"], first)
        self.assertEqual(self.releases.assigned, {})

    def test_errors_after_ready_roll_back(self):
        self.build("v2")
        self.metrics.errors_per_scrape = 50   # 5xx piling up while the replica is watched
        result = self.roll()
        self.assertEqual(result["outcome"], "rolled_back", self.lines)
        self.assertIn("answered 5xx", result["error"])

    def test_refusals(self):
        self.assertEqual(self.releases.roll("nope", self.lines.append)["outcome"], "refused")
        self.assertEqual(self.roll(rollback=True)["error"], "web has no previous release")
        busy = self.releases.busy.setdefault("web", threading.Lock())
        with busy:
            self.assertEqual(self.roll()["error"], "a release of web is already running")
        self.assertEqual(self.roll(build_dir="/elsewhere")["error"], "no executable /elsewhere/services/web/keel-web")


class MetricsServer:
    """/metrics with http_requests_total growing by 100 a scrape, errors_per_scrape of them 5xx."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        outer = self
        self.scrapes, self.errors_per_scrape = 0, 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.scrapes += 1
                n = outer.scrapes
                body = (f'http_requests_total{{status="200"}} {n * 100}\n'
                        f'http_requests_total{{status="500"}} {n * outer.errors_per_scrape}\n').encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class ReleaseBotTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t0 = time.monotonic()
        real = os.environ.get("KEEL_BUILD_DIR") or os.path.join(REPO, "build", "release")
        cls.build = make_build_dir(real)
        cls.catalog_build = os.path.join(cls.build, "services", "catalog", "keel-catalog")
        cls.stack = Stack(extra_env={
            "KEEL_BUILD_DIR": cls.build,
            "KEEL_STACK_RELEASE_READY_TIMEOUT": "10",   # the broken build fails in 10 s, not 60
            "KEEL_STACK_RELEASE_CHECK_S": "3",   # > the gateway's fail_timeout (2 s)
            "OPS_CHAT_ID": str(OPS_CHAT), "RELEASE_THREAD_ID": str(RELEASE_THREAD),
            "RELEASE_BOT_ALLOWED_CHATS": str(OPS_CHAT),
            "RELEASE_BOT_LEASE_RETRY_MS": "500",
        })
        try:
            cls.stack.up()
        except Exception:
            print(cls.stack.log_tails(), file=sys.stderr)
            cls.stack.down()
            cls.stack.cleanup()
            shutil.rmtree(cls.build, ignore_errors=True)
            raise
        cls.fake = cls.stack.state()["exports"]["TELEGRAM_API_BASE"]
        with open(os.path.join(cls.stack.var_dir, "secrets.env")) as f:
            cls.ops_token = dict(line.strip().split("=", 1) for line in f if "=" in line)["OPS_BOT_TOKEN"]
        print(f"stack up in {cls.stack.startup_seconds:.1f}s", file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.stack.down()
        try:   # both bots stopped in order (a poller cut off mid long poll included)
            for n in (1, 2):
                with open(os.path.join(cls.stack.var_dir, "log", f"release-bot-{n}.log"), errors="replace") as f:
                    last = f.read().strip().splitlines()[-1]
                if json.loads(last).get("msg") != "stopped":
                    raise AssertionError(f"release-bot#{n} did not stop cleanly; its last line: {last}")
        finally:
            cls.stack.cleanup()
        shutil.rmtree(cls.build, ignore_errors=True)
        print(f"release test: {time.monotonic() - cls.t0:.1f}s in all", file=sys.stderr)

    # -- helpers ---------------------------------------------------------------------------
    def say(self, text, chat=OPS_CHAT):
        who = "ann" if chat == OPS_CHAT else "mallory"
        body = {"token": self.ops_token, "chat_id": chat, "text": text,
                "from": {"id": 77, "is_bot": False, "first_name": who.title(), "username": who}}
        if chat == OPS_CHAT:
            body["message_thread_id"] = RELEASE_THREAD
        http_json("POST", f"{self.fake}/_fake/updates", body)

    def messages(self, chat):
        return http_json("GET", f"{self.fake}/_fake/messages?chat_id={chat}")

    def wait_message(self, chat, pred, timeout, after=0):
        """The first message to `chat` (after the first `after`) for which pred(text) holds."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            seen = self.messages(chat)[after:]
            for m in seen:
                if pred(m["text"]):
                    return m
            time.sleep(0.2)
        self.fail(f"no such message to {chat} within {timeout}s; got {[m['text'] for m in seen]}\n"
                  + self.stack.log_tails(10))

    def catalog(self):
        return [self.stack.replica("catalog", n) for n in (1, 2)]

    def release_state(self):
        with open(os.path.join(self.stack.var_dir, "releases", "catalog", "state.json")) as f:
            return json.load(f)

    def nginx_errors(self):
        try:
            with open(os.path.join(self.stack.var_dir, "nginx", "error.log"), errors="replace") as f:
                return "gateway's error.log:\n" + "".join(f.readlines()[-30:])
        except OSError:
            return "no gateway error.log"

    def running_binary(self, pid):
        return os.readlink(f"/proc/{pid}/exe")

    # -- the scenario, in order ------------------------------------------------------------
    def test_release_bot(self):
        self.status_answers()
        self.unknown_chat_changes_nothing()
        original = self.release_state()["current"]
        healthy = self.healthy_release_rolls_both_instances()
        self.broken_release_rolls_back(healthy)
        self.rollback_returns_to_the_previous_release(original, healthy)
        self.history_lists_them()

    def status_answers(self):
        n = len(self.messages(OPS_CHAT))
        self.say("/status")
        m = self.wait_message(OPS_CHAT, lambda t: "<b>catalog</b> 2/2 ready" in t, 20, after=n)
        self.assertEqual(m.get("message_thread_id"), RELEASE_THREAD)

    def unknown_chat_changes_nothing(self):
        before_pids = [r["pid"] for r in self.catalog()]
        before_state = self.release_state()
        self.say("/release catalog", chat=STRANGER)
        self.wait_message(STRANGER, lambda t: "may not command the release bot" in t, 20)
        self.assertEqual([r["pid"] for r in self.catalog()], before_pids)
        self.assertEqual(self.release_state(), before_state)
        self.assertFalse(any("Releasing" in m["text"] for m in self.messages(OPS_CHAT)))

    def healthy_release_rolls_both_instances(self):
        old = self.release_state()["current"]
        old_pids = [r["pid"] for r in self.catalog()]
        with open(self.catalog_build, "ab") as f:   # a new build: same code, another content hash
            f.write(b"\0keel release test\0")
        n = len(self.messages(OPS_CHAT))
        load = GetLoad(f"http://127.0.0.1:{self.stack.gateway_port}/api/catalog/products?limit=3")
        try:
            t0 = time.monotonic()
            self.say("/release catalog")
            m = self.wait_message(OPS_CHAT, lambda t: t.startswith(("✅", "↩️", "❌", "⛔")), 60, after=n)
            took = time.monotonic() - t0
        finally:
            load.stop()
        print(f"healthy release: {took:.1f}s, {load.ok} GETs, {len(load.failures)} failed", file=sys.stderr)
        self.assertTrue(m["text"].startswith("✅ Released <b>catalog</b>"), m["text"])
        self.assertEqual(m.get("message_thread_id"), RELEASE_THREAD)
        self.assertEqual(load.failures, [], self.nginx_errors())
        self.assertGreater(load.ok, 50)
        state = self.release_state()
        self.assertNotEqual(state["current"], old)
        self.assertEqual(state["previous"], old)
        reps = self.catalog()
        for r, old_pid in zip(reps, old_pids):
            self.assertEqual(r["health"], "healthy")
            self.assertNotEqual(r["pid"], old_pid)
            self.assertIn(os.path.join("releases", "catalog", state["current"]), self.running_binary(r["pid"]))
        return state["current"]

    def broken_release_rolls_back(self, healthy):
        tmp = self.catalog_build + ".new"
        with open(tmp, "w") as f:   # a build whose catalog never gets ready
            f.write("#!/bin/sh\nexec sleep 300\n")
        os.chmod(tmp, 0o755)
        os.replace(tmp, self.catalog_build)
        n = len(self.messages(OPS_CHAT))
        self.say("/release catalog")
        m = self.wait_message(OPS_CHAT, lambda t: t.startswith(("✅", "↩️", "❌", "⛔")), 60, after=n)
        self.assertTrue(m["text"].startswith("↩️ The release of <b>catalog</b> failed and was rolled back"),
                        m["text"])
        self.assertIn("not ready after 10s", m["text"])
        state = self.release_state()
        self.assertEqual(state["current"], healthy)
        for r in self.catalog():
            self.assertEqual(r["health"], "healthy")
            self.assertIn(os.path.join("releases", "catalog", healthy), self.running_binary(r["pid"]))

    def rollback_returns_to_the_previous_release(self, original, healthy):
        n = len(self.messages(OPS_CHAT))
        self.say("/rollback catalog")
        m = self.wait_message(OPS_CHAT, lambda t: t.startswith(("✅", "↩️", "❌", "⛔")), 60, after=n)
        self.assertTrue(m["text"].startswith("✅ Rolled back <b>catalog</b>"), m["text"])
        self.assertEqual(self.release_state(), {"current": original, "previous": None})
        for r in self.catalog():
            self.assertIn(os.path.join("releases", "catalog", original), self.running_binary(r["pid"]))
        listing = self.stack.cli("releases", "catalog").stdout
        self.assertRegex(listing, rf"catalog +current +{original}")
        self.assertNotRegex(listing, r"catalog +previous")

    def history_lists_them(self):
        n = len(self.messages(OPS_CHAT))
        self.say("/history")
        m = self.wait_message(OPS_CHAT, lambda t: t.startswith("<b>History</b>"), 20, after=n)
        lines = m["text"].splitlines()[1:]   # newest first
        self.assertEqual([line.split()[1:4] for line in lines],
                         [["rollback", "<b>catalog</b>", "released:"],
                          ["release", "<b>catalog</b>", "rolled_back:"],
                          ["release", "<b>catalog</b>", "released:"],
                          ["release", "<b>catalog</b>", "refused"]])
        self.assertIn("@ann", lines[0])
        self.assertIn("@mallory (chat not allowed)", lines[3])


if __name__ == "__main__":
    unittest.main(verbosity=2)
