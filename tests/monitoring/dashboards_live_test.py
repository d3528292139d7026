#!/usr/bin/python3
"""On a stack of its own with monitoring on (VictoriaMetrics, vmalert, Alertmanager, the
exporters; scrapes and rule evaluations every 2 s): every dashboard query returns data after
traffic (dashboards_live.py), and vmalert evaluates every rule of deploy/monitoring/rules
against the live data without an error and with nothing firing on the healthy stack. If
tests/e2e/monitoring_test.py already runs such a stack, calling dashboards_live.check from it
saves this one.

Run from the repo root:  /usr/bin/python3 tests/monitoring/dashboards_live_test.py [-v]
Env: KEEL_BUILD_DIR (default build/release), E2E_KEEP=1 keeps the stack's var dir.
"""
import glob
import http.client
import json
import os
import sys
import time
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import dashboards_live  # noqa: E402
from stack_fixture import REPO, Stack  # noqa: E402

STACK = None
T0 = time.monotonic()


def setUpModule():
    global STACK
    STACK = Stack(monitoring=True)
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
    print(f"dashboards_live_test: {time.monotonic() - T0:.1f}s in all", file=sys.stderr)


def vmalert(path):
    conn = http.client.HTTPConnection("127.0.0.1", STACK.vmalert_port, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    if r.status != 200:
        raise AssertionError(f"vmalert {path}: {r.status} {body[:300]!r}")
    return json.loads(body)["data"]


class DashboardsLive(unittest.TestCase):
    def test_1_every_panel_has_data_after_traffic(self):
        try:
            report = dashboards_live.check(STACK)
        except Exception:
            print(STACK.log_tails(), file=sys.stderr)
            raise
        self.assertGreater(report["queries"], 50)
        # the declared exceptions are few and each says why
        self.assertLessEqual(len(report["fault_only"]), 3, report["fault_only"])

    def test_2_vmalert_evaluates_every_rule_on_live_data(self):
        want = set()
        for path in glob.glob(os.path.join(REPO, "deploy", "monitoring", "rules", "*.rules.yml")):
            with open(path) as f:
                for group in yaml.safe_load(f)["groups"]:
                    want |= {r["alert"] for r in group["rules"] if "alert" in r}
        deadline = time.monotonic() + 30
        while True:
            rules = {r["name"]: r for g in vmalert("/api/v1/rules")["groups"] for r in g["rules"]}
            evaluated = {n for n, r in rules.items() if not r["lastEvaluation"].startswith("0001-")}
            if want <= evaluated or time.monotonic() > deadline:
                break
            time.sleep(1)
        self.assertEqual(want - set(rules), set(), "rules vmalert did not load")
        self.assertEqual(want - evaluated, set(), "rules not evaluated within 30 s")
        for name in sorted(want):
            with self.subTest(rule=name):
                self.assertEqual((rules[name]["health"], rules[name]["lastError"]), ("ok", ""))
        firing = [a for a in (vmalert("/api/v1/alerts")["alerts"] or []) if a["state"] == "firing"]
        self.assertEqual(firing, [], "alerts firing on a healthy stack")


if __name__ == "__main__":
    unittest.main(verbosity=2)
