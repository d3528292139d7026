#!/usr/bin/python3
"""The metrics layer on a whole stack (deploy/compose/monitoring.yaml) with `--scale catalog=3`:
every running instance of every service and every exporter (host, PostgreSQL, Redis, the
gateway's nginx, JetStream) is `up` in VictoriaMetrics within a bounded wait, catalog has three
targets, the exporters really reach what they watch, and no monitoring secret leaks.

Run from the repo root:  /usr/bin/python3 tests/e2e/monitoring_test.py [-v]
Env: KEEL_BUILD_DIR (default build/release), E2E_KEEP=1 keeps the stack's var dir.
"""
import glob
import json
import os
import stat
import sys
import time
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack_fixture import REPO, Stack  # noqa: E402

# The dashboards' live checks (tests/monitoring/dashboards_live_test.py) run on this stack too:
# one stack with monitoring instead of two in CI.
sys.path.insert(0, os.path.join(REPO, "tests", "monitoring"))
import dashboards_live_test  # noqa: E402

STACK = None
UP_WAIT_S = 45.0       # scrapes every 2 s here; a target appears within one interval of its start
EXPORTERS = ("node-exporter", "postgres-exporter", "redis-exporter", "nginx-exporter", "nats-exporter")
MONITORING = ("victoria-metrics", "vmalert", "alertmanager")
CATALOG_REPLICAS = 3


def keel_services():
    """The services built from keel's Dockerfile (compose image keel/*): each serves /metrics."""
    with open(os.path.join(REPO, "deploy", "compose", "app.yaml")) as f:
        app = yaml.safe_load(f)
    return sorted(n for n, s in app["services"].items() if str((s or {}).get("image", "")).startswith("keel/"))


def setUpModule():
    global STACK
    STACK = Stack(monitoring=True, scale={"catalog": CATALOG_REPLICAS})
    try:
        STACK.up()
    except Exception:
        print(STACK.log_tails(), file=sys.stderr)
        STACK.down()
        raise
    print(f"stack with monitoring up in {STACK.startup_seconds:.1f}s", file=sys.stderr)
    dashboards_live_test.STACK = STACK


def tearDownModule():
    if STACK is None:
        return
    STACK.down()
    if os.environ.get("E2E_KEEP"):
        print(f"stack kept in {STACK.var_dir}", file=sys.stderr)
    else:
        STACK.cleanup()


class DashboardsOnThisStack(dashboards_live_test.DashboardsLive):
    """Every dashboard query has data after traffic; vmalert evaluates every rule, none firing."""


class MonitoringTest(unittest.TestCase):
    def expected_instances(self):
        """{(job, instance)} of every replica keel-stack runs of a scraped service."""
        services = STACK.state()["services"]
        want = set()
        for name in keel_services() + list(EXPORTERS) + list(MONITORING):
            self.assertIn(name, services, f"{name} does not run")
            for r in services[name]["replicas"]:
                want.add((name, r["instance_id"]))
        return want

    def test_1_every_instance_is_up(self):
        want = self.expected_instances()
        t0 = time.monotonic()
        missing = want
        while time.monotonic() - t0 < UP_WAIT_S:
            up = {(r["metric"].get("job"), r["metric"].get("instance")): r["value"][1] for r in STACK.vm_query("up")}
            missing = {k for k in want if up.get(k) != "1"}
            if not missing:
                break
            time.sleep(1)
        print(f"all {len(want)} targets up {time.monotonic() - t0:.1f}s after `up` returned", file=sys.stderr)
        self.assertEqual(missing, set(), f"not up after {UP_WAIT_S}s: {sorted(missing)}; "
                         f"VictoriaMetrics has: {sorted(up.items())}")
        self.assertEqual(set(up) - want, set(), "targets no replica stands behind")

        catalog = STACK.vm_query('up{job="catalog"}')
        self.assertEqual(sorted(r["metric"]["instance"] for r in catalog),
                         [f"catalog-{n}" for n in range(1, CATALOG_REPLICAS + 1)])
        self.assertEqual({r["metric"]["service"] for r in catalog}, {"catalog"})

    def test_2_exporters_reach_what_they_watch(self):
        """up says the exporter answered; these say it reached its server (with the credentials)."""
        for expr in ("pg_up", "redis_up", "nginx_up", "nats_up"):
            with self.subTest(expr=expr):
                values = [r["value"][1] for r in STACK.vm_query(expr)]
                self.assertTrue(values and all(v == "1" for v in values), f"{expr}: {values}")
        self.assertTrue(STACK.vm_query('node_filesystem_avail_bytes{mountpoint="/"}'), "node-exporter: no root fs")
        # the services create their JetStream streams and consumers at start
        streams = {r["metric"]["stream"] for r in STACK.vm_query("nats_jetstream_stream_messages")}
        self.assertTrue(streams, "no JetStream stream exported")
        consumers = STACK.vm_query("nats_jetstream_consumer_num_pending")
        self.assertTrue(consumers, "no JetStream consumer exported")
        # pg_monitor: the exporter sees every database's activity, not just its own
        dbs = {r["metric"].get("datname") for r in STACK.vm_query("pg_stat_database_numbackends")}
        self.assertIn("catalog", dbs)

    def test_3_every_service_exports_build_info(self):
        jobs = {r["metric"]["job"] for r in STACK.vm_query("keel_build_info")}
        self.assertEqual(set(keel_services()) - jobs, set())

    def test_4_alerting_is_wired(self):
        """vmalert loaded deploy/monitoring/rules and talks to Alertmanager, whose rendered config
        posts to alert-relay with the token from a mode-600 file."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", STACK.vmalert_port, timeout=10)
        try:
            conn.request("GET", "/api/v1/rules")
            groups = json.loads(conn.getresponse().read())["data"]["groups"]
        finally:
            conn.close()
        files = glob.glob(os.path.join(REPO, "deploy", "monitoring", "rules", "*.yml"))
        want = 0
        for path in files:
            with open(path) as f:
                want += len((yaml.safe_load(f) or {}).get("groups") or [])
        self.assertEqual(len(groups), want)

        am_dir = os.path.join(STACK.var_dir, "alertmanager")
        conf, token = os.path.join(am_dir, "alertmanager.yml"), os.path.join(am_dir, "service-token")
        for p in (conf, token):
            self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o600, p)
        with open(token) as f:
            self.assertEqual(f.read(), read_secrets()["KEEL_SERVICE_TOKEN"])
        with open(conf) as f:
            text = f.read()
        self.assertIn(f"credentials_file: {token}", text)
        self.assertNotIn("${", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))

    def test_5_no_monitoring_secret_on_a_command_line_or_where_not_named(self):
        secrets = read_secrets()
        watched = {k: secrets[k] for k in ("PG_MONITOR_PASSWORD", "REDIS_PASSWORD", "KEEL_SERVICE_TOKEN")}
        services = STACK.state()["services"]
        for name in EXPORTERS + MONITORING:
            for r in services[name]["replicas"]:
                pid = r["pid"]
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read().decode(errors="replace")
                with open(f"/proc/{pid}/environ", "rb") as f:
                    environ = f.read().decode(errors="replace")
                for key, value in watched.items():
                    self.assertNotIn(value, cmdline, f"{key} on {name}'s command line")
                    named = (name, key) in (("postgres-exporter", "PG_MONITOR_PASSWORD"),
                                            ("redis-exporter", "REDIS_PASSWORD"))
                    if not named:   # alertmanager reads the token from its file, not its environment
                        self.assertNotIn(value, environ, f"{key} in {name}'s environment")


def read_secrets():
    out = {}
    with open(os.path.join(STACK.var_dir, "secrets.env")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                out[k] = v
    return out


if __name__ == "__main__":
    unittest.main(verbosity=2)
