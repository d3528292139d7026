#!/usr/bin/python3
"""A local fake of a payment provider for wallet top-ups (standard library only).

    fake_payment_provider.py --port P [--host 127.0.0.1] --callback-url URL
                             [--secret S | --secret-env VAR]

The user's side of a top-up: payments created a pending top-up (POST /api/payments/top-ups);
the user "pays" it here, and the provider tells payments through a signed callback, as a real
provider's webhook does:

  POST /v1/payments  {"top_up_id", "amount", "currency", "outcome": "succeeded"|"failed"}
      -> a provider payment id (pay_...), then POST <callback-url> with the JSON body
         {"top_up_id", "provider_payment_id", "status", "amount", "currency"} and the header
         X-Provider-Signature: sha256=<hex HMAC-SHA256 of the exact body under the secret>.
         Retried (3 attempts, 0.2 s apart) on a connection error or a 5xx.
      <- 201 {"provider_payment_id", "status", "callback": {"status": code, "body": json}}
Control endpoints (tests):
  POST /_fake/payments/<provider_payment_id>/resend   the same body and signature again (a replay)
  GET  /_fake/payments                                 every payment with its callback answers
  GET  /healthz
Without a secret (--secret, or the variable named by --secret-env, empty) POST /v1/payments is a
503: nothing can be signed. --port 0 picks a free port; the first line on stdout is always
"listening on http://HOST:PORT".
"""
import argparse
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 16
SIGNATURE_HEADER = "X-Provider-Signature"
RESEND = re.compile(r"^/_fake/payments/([A-Za-z0-9_]+)/resend$")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def sign(secret, body):
    """The header value payments verifies: sha256=<hex HMAC-SHA256(secret, body)>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class State:
    def __init__(self, callback_url, secret):
        self.callback_url = callback_url
        self.secret = secret
        self.lock = threading.Lock()
        self.payments = {}   # provider_payment_id -> {"body": bytes, "signature", "callbacks": [...]}

    def deliver(self, pid):
        """POSTs the payment's callback (retrying a broken connection or a 5xx); returns the answer."""
        with self.lock:
            p = self.payments[pid]
            body, signature = p["body"], p["signature"]
        answer = {"status": None, "body": None}
        for attempt in range(3):
            if attempt:
                time.sleep(0.2)
            req = urllib.request.Request(self.callback_url, data=body, method="POST", headers={
                "Content-Type": "application/json", SIGNATURE_HEADER: signature})
            try:
                with OPENER.open(req, timeout=10) as r:
                    answer = {"status": r.status, "body": parse(r.read())}
            except urllib.error.HTTPError as e:
                answer = {"status": e.code, "body": parse(e.read())}
            except OSError as e:
                answer = {"status": None, "body": str(e)}
            if answer["status"] is not None and answer["status"] < 500:
                break
        with self.lock:
            p["callbacks"].append(answer)
        return answer


def parse(raw):
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode("utf-8", "replace")


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-payment-provider/1"
    state = None  # set by serve()

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            return None
        try:
            v = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            return None
        return v if isinstance(v, dict) else None

    def do_GET(self):
        if self.path == "/healthz":
            return self.send_json(200, {"ok": True})
        if self.path == "/_fake/payments":
            with self.state.lock:
                out = [{"provider_payment_id": pid, "request": json.loads(p["body"]), "callbacks": p["callbacks"]}
                       for pid, p in self.state.payments.items()]
            return self.send_json(200, out)
        self.send_json(404, {"error": "not found"})

    def do_POST(self):
        if self.path == "/v1/payments":
            return self.pay()
        m = RESEND.match(self.path)
        if m:
            with self.state.lock:
                known = m.group(1) in self.state.payments
            if not known:
                return self.send_json(404, {"error": "no such payment"})
            return self.send_json(200, {"callback": self.state.deliver(m.group(1))})
        self.send_json(404, {"error": "not found"})

    def pay(self):
        if not self.state.secret:
            return self.send_json(503, {"error": "no signing secret configured"})
        req = self.read_json()
        if req is None:
            return self.send_json(400, {"error": "a JSON object is expected"})
        outcome = req.get("outcome", "succeeded")
        if (not isinstance(req.get("top_up_id"), str) or type(req.get("amount")) is not int
                or not isinstance(req.get("currency"), str) or outcome not in ("succeeded", "failed")):
            return self.send_json(400, {"error": "top_up_id, amount, currency (and outcome) expected"})
        pid = "pay_" + uuid.uuid4().hex
        body = json.dumps({"top_up_id": req["top_up_id"], "provider_payment_id": pid, "status": outcome,
                           "amount": req["amount"], "currency": req["currency"]},
                          separators=(",", ":")).encode()
        with self.state.lock:
            self.state.payments[pid] = {"body": body, "signature": sign(self.state.secret, body),
                                        "callbacks": []}
        answer = self.state.deliver(pid)
        self.send_json(201, {"provider_payment_id": pid, "status": outcome, "callback": answer})


def serve(host, port, callback_url, secret):
    """Start in a background thread; returns (server, url). For use from Python tests too."""
    handler = type("BoundHandler", (Handler,), {"state": State(callback_url, secret)})
    srv = ThreadingHTTPServer((host, port), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://{host}:{srv.server_address[1]}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--callback-url", required=True, help="payments' POST /api/payments/provider/callback")
    ap.add_argument("--secret", default="", help="the shared signing secret (prefer --secret-env)")
    ap.add_argument("--secret-env", help="read the secret from this environment variable")
    a = ap.parse_args(argv)
    secret = os.environ.get(a.secret_env, "") if a.secret_env else a.secret
    srv, url = serve(a.host, a.port, a.callback_url, secret)
    print(f"listening on {url}", flush=True)
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    srv.shutdown()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
