#!/usr/bin/python3
"""Tests of the fake payment provider. Run: /usr/bin/python3 tests/fakes/payment-provider/fake_payment_provider_test.py
Starts fake_payment_provider.py as a process on a free port, with a receiver standing in for
payments' callback route, and checks each behaviour over HTTP (~2 s)."""
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import unittest
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_payment_provider.py")
SECRET = "test-secret-0123456789abcdef"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Receiver:
    """payments' callback route: records what arrives; answers 503 `fail_first` times."""
    def __init__(self):
        self.calls = []
        self.fail_first = 0
        me = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                me.calls.append((body, self.headers.get("X-Provider-Signature")))
                status = 503 if me.fail_first > 0 else 200
                me.fail_first -= 1
                data = json.dumps({"seen": len(me.calls)}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/api/payments/provider/callback"


def start(callback_url, env_secret=SECRET):
    env = dict(os.environ, PROVIDER_SECRET=env_secret)
    p = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--callback-url", callback_url,
                          "--secret-env", "PROVIDER_SECRET"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=env)
    line = p.stdout.readline().strip()
    if not line.startswith("listening on http://127.0.0.1:"):
        p.kill()
        raise AssertionError(f"unexpected first line {line!r}")
    return p, line.split("listening on ", 1)[1]


def stop(p):
    p.terminate()
    try:
        return p.wait(5)
    finally:
        p.stdout.close()


def call(method, url, obj=None):
    data = json.dumps(obj).encode() if obj is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with OPENER.open(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class FakePaymentProvider(unittest.TestCase):
    def setUp(self):
        self.receiver = Receiver()
        self.proc, self.url = start(self.receiver.url)

    def tearDown(self):
        self.assertEqual(stop(self.proc), 0)
        self.receiver.srv.shutdown()

    def test_a_payment_is_called_back_signed_over_the_exact_body(self):
        status, paid = call("POST", self.url + "/v1/payments",
                            {"top_up_id": "t-1", "amount": 500, "currency": "USD"})
        self.assertEqual(status, 201, paid)
        self.assertTrue(paid["provider_payment_id"].startswith("pay_"))
        self.assertEqual(paid["callback"]["status"], 200)
        self.assertEqual(len(self.receiver.calls), 1)
        body, signature = self.receiver.calls[0]
        self.assertEqual(signature, "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest())
        self.assertEqual(json.loads(body), {"top_up_id": "t-1", "provider_payment_id": paid["provider_payment_id"],
                                            "status": "succeeded", "amount": 500, "currency": "USD"})

    def test_resend_replays_the_same_bytes_and_signature(self):
        _, paid = call("POST", self.url + "/v1/payments",
                       {"top_up_id": "t-2", "amount": 7, "currency": "USD", "outcome": "failed"})
        status, again = call("POST", self.url + f"/_fake/payments/{paid['provider_payment_id']}/resend")
        self.assertEqual(status, 200, again)
        self.assertEqual(len(self.receiver.calls), 2)
        self.assertEqual(self.receiver.calls[0], self.receiver.calls[1])
        self.assertEqual(json.loads(self.receiver.calls[0][0])["status"], "failed")
        status, listed = call("GET", self.url + "/_fake/payments")
        self.assertEqual(len(listed[0]["callbacks"]), 2)
        self.assertEqual(call("POST", self.url + "/_fake/payments/pay_nope/resend")[0], 404)

    def test_a_5xx_answer_is_retried(self):
        self.receiver.fail_first = 2
        _, paid = call("POST", self.url + "/v1/payments", {"top_up_id": "t-3", "amount": 1, "currency": "USD"})
        self.assertEqual(paid["callback"]["status"], 200)
        self.assertEqual(len(self.receiver.calls), 3)

    def test_bad_requests_are_refused_without_a_callback(self):
        for bad in ({"amount": 1, "currency": "USD"}, {"top_up_id": "x", "amount": "1", "currency": "USD"},
                    {"top_up_id": "x", "amount": 1, "currency": "USD", "outcome": "maybe"}):
            self.assertEqual(call("POST", self.url + "/v1/payments", bad)[0], 400, bad)
        self.assertEqual(self.receiver.calls, [])


class WithoutASecret(unittest.TestCase):
    def test_nothing_is_signed(self):
        receiver = Receiver()
        proc, url = start(receiver.url, env_secret="")
        try:
            status, _ = call("POST", url + "/v1/payments", {"top_up_id": "t", "amount": 1, "currency": "USD"})
            self.assertEqual(status, 503)
            self.assertEqual(receiver.calls, [])
        finally:
            stop(proc)
            receiver.srv.shutdown()


if __name__ == "__main__":
    unittest.main(verbosity=2)
