#!/usr/bin/python3
"""Alerts end to end: VictoriaMetrics -> vmalert -> Alertmanager -> alert-relay -> Telegram (the fake),
on a whole stack with monitoring (scrape and rule evaluation every 2 s, see stack_fixture.py).

Both catalog instances stopped: exactly one firing KeelServiceDown message reaches catalog's thread
of the ops chat within 90 s; Alertmanager's webhook for that alert sent again (to each relay
instance, through the internal gateway, as Alertmanager does on a repeat_interval) is deduplicated
and sends nothing; catalog started again: exactly one resolved message.

Run from the repo root:  /usr/bin/python3 tests/e2e/alerts_test.py [-v]
Env: KEEL_BUILD_DIR (default build/release), E2E_KEEP=1 keeps the stack's var dir.
"""
import http.client
import json
import os
import sys
import time
import unittest
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack_fixture import Stack  # noqa: E402

STACK = None
OPS_CHAT = -1001000000042
CATALOG_THREAD = 11
FIRING_WITHIN_S = 90.0      # the bound, from the stop
RESOLVED_WITHIN_S = 90.0    # group_interval (ALERT_GROUP_INTERVAL, 10 s here) paces resolved notifications
QUIET_S = 3.0               # after the last message: long enough for a duplicate sent beside it to show


def setUpModule():
    global STACK
    STACK = Stack(monitoring=True, extra_env={
        "OPS_CHAT_ID": str(OPS_CHAT),
        "ALERT_THREADS": f"catalog={CATALOG_THREAD},critical=2,default=1",
        # resolved notifications go out at group_interval's pace (30 s by default)
        "ALERT_GROUP_INTERVAL": "10s",
    })
    try:
        STACK.up()
    except Exception:
        print(STACK.log_tails(), file=sys.stderr)
        STACK.down()
        raise
    print(f"stack with monitoring up in {STACK.startup_seconds:.1f}s", file=sys.stderr)


def tearDownModule():
    if STACK is None:
        return
    STACK.down()
    if os.environ.get("E2E_KEEP"):
        print(f"stack kept in {STACK.var_dir}", file=sys.stderr)
    else:
        STACK.cleanup()


def http_json(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Content-Type": "application/json", **(headers or {})})
        r = conn.getresponse()
        data = r.read()
    finally:
        conn.close()
    if r.status != 200:
        raise AssertionError(f"{method} :{port}{path}: {r.status} {data[:400]!r}")
    return json.loads(data)


def secret(name):
    with open(os.path.join(STACK.var_dir, "secrets.env")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k == name:
                return v
    raise KeyError(name)


def catalog_thread():
    """Messages in catalog's thread of the ops chat, oldest first."""
    port = STACK.replica("telegram-fake", 1)["port"]
    return http_json(port, "GET", f"/_fake/messages?chat_id={OPS_CHAT}&message_thread_id={CATALOG_THREAD}")


def service_down(messages, state):
    return [m for m in messages if f"<b>{state}</b>" in m["text"] and "<b>KeelServiceDown</b>" in m["text"]]


def wait_for(what, fetch, limit_s):
    """Polls fetch() every 0.5 s until it returns something truthy; (value, seconds waited)."""
    t0 = time.monotonic()
    while True:
        value = fetch()
        if value:
            return value, time.monotonic() - t0
        if time.monotonic() - t0 > limit_s:
            raise AssertionError(f"{what} not within {limit_s:.0f}s; catalog's thread has: "
                                 f"{[m['text'][:80] for m in catalog_thread()]}")
        time.sleep(0.5)


def catalog_up(n):
    up = STACK.vm_query('up{job="catalog"}')
    return len(up) == 2 and all(r["value"][1] == str(n) for r in up)


class AlertsTest(unittest.TestCase):
    def test_catalog_down_and_back(self):
        t_start = time.monotonic()
        wait_for("both catalog targets up", lambda: catalog_up(1), 30)
        self.assertEqual(service_down(catalog_thread(), "FIRING"), [])

        STACK.cli("stop", "catalog")
        t_stop = time.monotonic()
        fired, waited = wait_for("the firing message", lambda: service_down(catalog_thread(), "FIRING"),
                                 FIRING_WITHIN_S)
        print(f"firing message {waited:.1f}s after the stop", file=sys.stderr)
        self.assertIn("FIRING", fired[0]["text"])
        self.assertEqual(fired[0]["parse_mode"], "HTML")
        self.assertIn("every instance of catalog is down", fired[0]["text"])

        # Alertmanager's repeat of the same alert (what it sends every repeat_interval, 4 h in the
        # template): deduplicated by whichever relay instance the gateway picks, nothing sent.
        alerts = http_json(STACK.alertmanager_port, "GET",
                           "/api/v2/alerts?filter=" + quote('alertname="KeelServiceDown"') +
                           "&filter=" + quote('service="catalog"'))
        self.assertEqual(len(alerts), 1, alerts)
        a = alerts[0]
        webhook = {"version": "4", "groupKey": '{}:{alertname="KeelServiceDown", service="catalog"}',
                   "status": "firing", "receiver": "alert-relay", "groupLabels": {}, "commonLabels": {},
                   "commonAnnotations": {}, "externalURL": "", "truncatedAlerts": 0,
                   "alerts": [{"status": "firing", "labels": a["labels"], "annotations": a["annotations"],
                               "startsAt": a["startsAt"], "endsAt": a["endsAt"],
                               "generatorURL": a.get("generatorURL", ""), "fingerprint": a["fingerprint"]}]}
        token = secret("KEEL_SERVICE_TOKEN")
        for _ in range(2):   # the internal gateway spreads them over both relay instances
            r = STACK.request("POST", "/alert-relay/internal/alertmanager", json_body=webhook,
                              token=token, port=STACK.internal_port)
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json(), {"received": 1, "sent": 0, "deduplicated": 1, "throttled": 0})
        self.assertEqual(len(service_down(catalog_thread(), "FIRING")), 1,
                         "the firing message was sent more than once")

        STACK.cli("start", "catalog")
        t_started = time.monotonic()
        resolved, waited = wait_for("the resolved message",
                                    lambda: service_down(catalog_thread(), "RESOLVED"), RESOLVED_WITHIN_S)
        print(f"resolved message {waited:.1f}s after the start (catalog down {t_started - t_stop:.0f}s)",
              file=sys.stderr)
        self.assertIn("lasted", resolved[0]["text"])
        time.sleep(QUIET_S)
        messages = catalog_thread()   # the firing message's count again, half a minute later
        self.assertEqual(len(service_down(messages, "FIRING")), 1)
        self.assertEqual(len(service_down(messages, "RESOLVED")), 1)
        print(f"alerts test body {time.monotonic() - t_start:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
