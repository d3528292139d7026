#!/usr/bin/python3
"""deploy/monitoring/alertmanager.yml.template: rendered as keel-stack renders it, amtool accepts
it, and a real Alertmanager (prometheus-alertmanager, on a free loopback port) with it posts to
a fake alert-relay: one message per alert and service, with the bearer token from the file,
KeelInstanceDown held back while KeelServiceDown fires for the same service, and a resolved
message when the alert ends. About 45 s (Alertmanager's group_wait and group_interval)."""
import datetime
import http.server
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
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TEMPLATE = os.path.join(REPO, "deploy", "monitoring", "alertmanager.yml.template")
TOKEN = "relay-token-for-the-test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render(url, token_file, group_interval="30s"):
    with open(TEMPLATE) as f:
        text = f.read()
    return (text.replace("${ALERT_RELAY_URL}", url).replace("${ALERT_RELAY_TOKEN_FILE}", token_file)
            .replace("${ALERT_GROUP_INTERVAL}", group_interval))


class FakeRelay(http.server.BaseHTTPRequestHandler):
    received = []   # (path, authorization, body)
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with self.lock:
            self.received.append((self.path, self.headers.get("Authorization"), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()


def alert(name, service, severity, ends_in=300, **labels):
    now = time.time()
    return {"labels": {"alertname": name, "service": service, "job": service, "severity": severity,
                       **labels},
            "annotations": {"summary": f"{name} {service}"},
            "startsAt": iso(now - 30), "endsAt": iso(now + ends_in)}


class AlertmanagerConfig(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="keel-am-test-")
        cls.relay = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeRelay)
        threading.Thread(target=cls.relay.serve_forever, daemon=True).start()
        token_file = os.path.join(cls.dir, "relay.token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        cls.config = os.path.join(cls.dir, "alertmanager.yml")
        with open(cls.config, "w") as f:
            f.write(render(f"http://127.0.0.1:{cls.relay.server_port}/internal/alerts", token_file))
        cls.am = None

    @classmethod
    def tearDownClass(cls):
        if cls.am:
            cls.am.terminate()
            try:
                cls.am.wait(10)
            except subprocess.TimeoutExpired:
                cls.am.kill()
                cls.am.wait()
            cls.am_log.close()
        cls.relay.shutdown()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_1_template_has_only_its_placeholders(self):
        with open(TEMPLATE) as f:
            body = "\n".join(l for l in f.read().splitlines() if not l.lstrip().startswith("#"))
        import re
        self.assertEqual(sorted(set(re.findall(r"\$\{(\w+)\}", body))),
                         ["ALERT_GROUP_INTERVAL", "ALERT_RELAY_TOKEN_FILE", "ALERT_RELAY_URL"])

    def test_2_amtool_accepts_it(self):
        p = subprocess.run(["amtool", "check-config", self.config], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = subprocess.run(["amtool", "config", "routes", "test", "--config.file=" + self.config,
                            "alertname=KeelServiceDown", "service=catalog"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.stdout.strip(), "alert-relay", p.stdout + p.stderr)

    def api(self, method, path, body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            data = r.read()
            return json.loads(data) if data else None

    def wait(self, what, pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(0.2)
        self.fail(f"timed out after {timeout}s waiting for {what}; relay got {FakeRelay.received}")

    def messages(self):
        with FakeRelay.lock:
            return list(FakeRelay.received)

    def start_alertmanager(self):
        """Alertmanager on a free port; again on another port when the one picked was taken
        meanwhile (it exits at once then). True once it answers with our configuration."""
        cls = type(self)
        for attempt in range(3):
            cls.port = self.port = free_port()
            cls.am_log = open(os.path.join(self.dir, f"am-{attempt}.log"), "w")
            cls.am = subprocess.Popen(
                ["prometheus-alertmanager", "--config.file=" + self.config,
                 "--storage.path=" + os.path.join(self.dir, "data"),
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
                stdout=cls.am_log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and cls.am.poll() is None:
                try:
                    status = self.api("GET", "/api/v2/status")
                    # ours, not another process that got the port
                    return f"127.0.0.1:{self.relay.server_port}/internal/alerts" in status["config"]["original"]
                except (OSError, ValueError, KeyError):
                    time.sleep(0.2)
            cls.am.kill()
            cls.am.wait()
            cls.am_log.close()
            cls.am = None
        with open(os.path.join(self.dir, "am-2.log")) as f:
            self.fail("Alertmanager did not start:\n" + f.read()[-2000:])

    def test_3_real_alertmanager_groups_inhibits_and_resolves(self):
        self.assertTrue(self.start_alertmanager(), "another Alertmanager answers on our port")

        t0 = time.monotonic()
        self.api("POST", "/api/v2/alerts", [
            alert("KeelServiceDown", "catalog", "critical"),
            alert("KeelInstanceDown", "catalog", "warning", instance="127.0.0.1:9001"),
            alert("KeelInstanceDown", "catalog", "warning", instance="127.0.0.1:9002"),
            alert("KeelInstanceDown", "orders", "warning", instance="127.0.0.1:9003"),
        ])
        # group_wait (10 s): both groups that are not inhibited, once each
        self.wait("two firing notifications", lambda: len(self.messages()) >= 2, 25)
        first_s = time.monotonic() - t0
        self.assertLess(first_s, 20, "group_wait leaves the 90 s budget most of its time")
        time.sleep(2)   # anything else that would come now would be a duplicate or not inhibited
        got = self.messages()
        self.assertEqual(len(got), 2, got)
        groups = {}
        for path, auth, body in got:
            self.assertEqual(path, "/internal/alerts")
            self.assertEqual(auth, "Bearer " + TOKEN)
            self.assertEqual(body["status"], "firing")
            self.assertEqual(body["version"], "4")
            groups[(body["groupLabels"]["alertname"], body["groupLabels"]["service"])] = body
        self.assertEqual(set(groups), {("KeelServiceDown", "catalog"), ("KeelInstanceDown", "orders")})
        # Alertmanager itself says why catalog's instances were not sent
        listed = self.api("GET", "/api/v2/alerts?filter=alertname%3D%22KeelInstanceDown%22&filter=service%3D%22catalog%22")
        self.assertEqual(len(listed), 2, listed)
        for a in listed:
            self.assertEqual(a["status"]["state"], "suppressed", a)
            self.assertTrue(a["status"]["inhibitedBy"], a)

        # catalog is back: vmalert resolves the three together (one rule group, one evaluation).
        # One resolved message for KeelServiceDown (within group_interval, 30 s); none for the
        # instances, whose firing was never sent. Both groups were created together, so their
        # next flushes are due together too.
        self.api("POST", "/api/v2/alerts", [
            alert("KeelServiceDown", "catalog", "critical", ends_in=-1),
            alert("KeelInstanceDown", "catalog", "warning", ends_in=-1, instance="127.0.0.1:9001"),
            alert("KeelInstanceDown", "catalog", "warning", ends_in=-1, instance="127.0.0.1:9002"),
        ])
        self.wait("the resolved notification", lambda: len(self.messages()) >= 3, 45)
        time.sleep(3)
        got = self.messages()
        self.assertEqual(len(got), 3, got)
        body = got[2][2]
        self.assertEqual((body["status"], body["groupLabels"]["service"], body["alerts"][0]["status"]),
                         ("resolved", "catalog", "resolved"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
