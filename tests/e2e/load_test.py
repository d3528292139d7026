#!/usr/bin/python3
"""keel-load against a whole stack: a short closed loop of shoppers (setup of users included),
then a short open loop reusing those users; each time its counts per route must match what the
services themselves counted (http_requests_total on every catalog, recommendations and orders
instance, scraped before and after), with zero errors and the JSON keys the lab reads.

Run from the repo root:  /usr/bin/python3 tests/e2e/load_test.py [-v]
Env: KEEL_BUILD_DIR (default build/release), E2E_KEEP=1 keeps the stack's var dir.
"""
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack_fixture import REPO, Stack  # noqa: E402
from shop import Shop  # noqa: E402

STACK = None
SHOP = None
BUILD = os.environ.get("KEEL_BUILD_DIR") or os.path.join(REPO, "build", "release")
KEEL_LOAD = os.path.join(BUILD, "tools", "load", "keel-load")
WORK = None

# keel-load's step -> (service, route label, method) the services count it under
ROUTES = {
    "list": ("catalog", "/api/catalog/products", "GET"),
    "search": ("catalog", "/api/catalog/products", "GET"),
    "product": ("catalog", "/api/catalog/products/{id}", "GET"),
    "recs": ("recommendations", "/api/recommendations/products/{id}", "GET"),
    "order": ("orders", "/api/orders", "POST"),
    "order_poll": ("orders", "/api/orders/{id}", "GET"),
}
SERIES = sorted(set(ROUTES.values()))
TOP_KEYS = ("mode", "users", "rate", "duration_s", "requests", "ok", "errors", "throughput_rps",
            "goodput_rps", "latency_ms", "shed_latency_ms", "steps", "timeline", "cpu_s",
            "cpu_us_per_request", "order_final_ms")
ERROR_KINDS = ("connect", "timeout", "http_4xx", "http_5xx", "http_503_shed", "other", "http_503_overload",
               "http_503_dependency")
LATENCY_KEYS = ("mean", "p50", "p90", "p95", "p99", "p999", "max")
TIMELINE_KEYS = ("t", "rps", "ok", "errors", "p50_ms", "p99_ms", "in_flight", "users", "shed", "shed_p99_ms")


def served():
    """{(service, route, method): requests served, any status} summed over every instance."""
    totals = dict.fromkeys(SERIES, 0)
    for service in {s for s, _, _ in SERIES}:
        for rep in STACK.state()["services"][service]["replicas"]:
            text = STACK.request("GET", "/metrics", port=rep["port"]).body.decode()
            for m in re.finditer(r'(?m)^http_requests_total\{route="([^"]+)",method="([A-Z]+)",'
                                 r'status="\d{3}"\} (\d+)', text):
                key = (service, m.group(1), m.group(2))
                if key in totals:
                    totals[key] += int(m.group(3))
    return totals


def keel_load(*args, timeout=120):
    p = subprocess.run([KEEL_LOAD, "--url", f"http://127.0.0.1:{STACK.gateway_port}", "--quiet", *args],
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"keel-load {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


class LoadTest(unittest.TestCase):
    def check_report(self, report):
        for key in TOP_KEYS:
            self.assertIn(key, report)
        for kind in ERROR_KINDS:
            self.assertIn(kind, report["errors"])
        for key in LATENCY_KEYS:
            self.assertIn(key, report["latency_ms"])
        self.assertIn("p50", report["shed_latency_ms"])
        self.assertIn("p99", report["shed_latency_ms"])
        for key in ("p50", "p99", "count", "confirmed", "cancelled"):
            self.assertIn(key, report["order_final_ms"])
        self.assertTrue(report["timeline"])
        for row in report["timeline"]:
            self.assertEqual(set(TIMELINE_KEYS) - set(row), set(), row)
            self.assertEqual(row["shed"], 0, row)
            self.assertIsNone(row["shed_p99_ms"], row)  # no 503 that second
        self.assertEqual(sum(report["errors"].values()), 0, report["errors"])
        self.assertEqual(report["ok"], report["requests"])
        self.assertGreater(report["cpu_s"], 0)
        self.assertEqual(sum(s["requests"] for s in report["steps"].values()), report["requests"])
        self.assertEqual(sum(row["ok"] for row in report["timeline"]) <= report["ok"], True)

    def check_counts(self, before, after, report, extra=None):
        """The services counted what keel-load counted, route by route (plus `extra` requests
        keel-load made outside the measurement, e.g. its product discovery)."""
        sent = dict.fromkeys(SERIES, 0)
        for step, stats in report["steps"].items():
            sent[ROUTES[step]] += stats["requests"]
        for key, n in (extra or {}).items():
            sent[key] += n
        for key in SERIES:
            with self.subTest(route=key):
                counted = after[key] - before[key]
                # the gateway may retry an idempotent request on the other instance: a little more
                self.assertGreaterEqual(counted, sent[key])
                self.assertLessEqual(counted - sent[key], max(2, sent[key] // 100), (counted, sent[key]))

    def test_1_closed_loop_then_open_loop(self):
        token = SHOP.secrets()["KEEL_SERVICE_TOKEN"]
        product = SHOP.new_product(stock=1_000_000, price=100)  # orders never run out of stock
        users_file = os.path.join(WORK, "users.json")
        closed_json, closed_csv = os.path.join(WORK, "closed.json"), os.path.join(WORK, "closed.csv")

        before = served()
        keel_load("--mode", "closed", "--users", "20", "--think-ms", "250", "--duration-s", "8",
                  "--setup-users", "6", "--service-token", token,
                  "--internal-url", f"http://127.0.0.1:{STACK.internal_port}",
                  "--order-products", product, "--save-users", users_file,
                  "--json", closed_json, "--csv", closed_csv)
        after = served()
        with open(closed_json) as f:
            report = json.load(f)
        self.check_report(report)
        self.assertEqual((report["mode"], report["users"]), ("closed", 20))
        self.assertEqual(report["setup"]["users"], 6, report["setup"])
        self.assertEqual(report["setup"]["fund_ms"]["count"], 6, report["setup"])
        # 20 users, a step every ~250 ms plus its latency: about 80 steps/s, polls on top
        self.assertGreater(report["requests"], 300)
        for step in ("list", "search", "product", "recs", "order", "order_poll"):
            self.assertGreater(report["steps"].get(step, {}).get("requests", 0), 0, step)
        finals = report["order_final_ms"]
        self.assertGreater(finals["confirmed"], 0, finals)
        self.assertEqual(finals["cancelled"], 0, finals)  # funded users, unlimited stock
        self.check_counts(before, after, report,
                          extra={("catalog", "/api/catalog/products", "GET"): 1})  # discovery
        with open(closed_csv) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), len(report["timeline"]))
        self.assertEqual(set(rows[0]), set(TIMELINE_KEYS))
        with open(users_file) as f:
            self.assertEqual(len(json.load(f)), 6)

        open_json = os.path.join(WORK, "open.json")
        before = served()
        keel_load("--mode", "open", "--rate", "200", "--duration-s", "5", "--scenario", "mix",
                  "--connections", "16", "--users-file", users_file, "--order-products", product,
                  "--json", open_json)
        after = served()
        with open(open_json) as f:
            report = json.load(f)
        self.check_report(report)
        self.assertEqual((report["mode"], report["rate"]), ("open", 200))
        self.assertEqual(report["requests"], 1000)  # 200/s for 5 s, every one answered
        self.assertGreater(report["steps"]["order"]["requests"], 0)
        self.check_counts(before, after, report, extra={("catalog", "/api/catalog/products", "GET"): 1})

    def test_2_bad_options_fail_clearly(self):
        p = subprocess.run([KEEL_LOAD, "--url", f"http://127.0.0.1:{STACK.gateway_port}",
                            "--mix", "list=1,checkout=2"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown step 'checkout'", p.stderr)
        p = subprocess.run([KEEL_LOAD, "--url", f"http://127.0.0.1:{STACK.gateway_port}",
                            "--duration-s", "1"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("the order step needs users", p.stderr)


def setUpModule():
    global STACK, SHOP, WORK
    WORK = tempfile.mkdtemp(prefix="keel-load-test-")
    STACK = Stack()
    try:
        STACK.up()
    except Exception:
        print(STACK.log_tails(40), file=sys.stderr)
        STACK.down()
        raise
    SHOP = Shop(STACK, BUILD)


def tearDownModule():
    if STACK is None:
        return
    STACK.down()
    if os.environ.get("E2E_KEEP"):
        print(f"stack kept in {STACK.var_dir}, keel-load files in {WORK}", file=sys.stderr)
    else:
        STACK.cleanup()
        subprocess.run(["rm", "-rf", WORK], check=False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
