#!/usr/bin/python3
"""Dashboards as code (deploy/monitoring/dashboards): the definitions follow their schema, the
committed Grafana JSON and provisioning files are exactly what generate.py writes, the JSON has
the shape Grafana reads (a schema of ours, no Grafana here), panels do not overlap, every
variable a query uses is defined, and every panel query parses: Prometheus' parser (promtool
check rules) and VictoriaMetrics' (a throwaway instance on a free loopback port). No stack."""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import jsonschema
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboard_queries as dq  # noqa: E402

GENERATE = os.path.join(dq.DASHBOARDS, "generate.py")
GRAFANA = os.path.join(dq.REPO, "deploy", "monitoring", "grafana")
WANTED_DASHBOARDS = {"keel-overview", "keel-postgresql", "keel-redis", "keel-bus", "keel-saga", "keel-lab"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_schema(name):
    with open(os.path.join(dq.DASHBOARDS, name)) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


class Definitions(unittest.TestCase):
    def test_definitions_follow_their_schema(self):
        validator = load_schema("definition.schema.json")
        definitions = dq.generate.load_definitions()
        self.assertEqual({d["uid"] for d in definitions.values()}, WANTED_DASHBOARDS)
        for name, definition in definitions.items():
            with self.subTest(definition=name):
                errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(definition)]
                self.assertEqual(errors, [])

    def test_the_schema_refuses_a_bad_definition(self):
        validator = load_schema("definition.schema.json")
        bad = {"uid": "keel-x", "title": "x", "rows": [{"title": "r", "panels": [{"title": "p", "queries": [{}]}]}]}
        self.assertTrue(list(validator.iter_errors(bad)))

    def test_variables_used_are_defined(self):
        for q in dq.all_queries():
            with self.subTest(dashboard=q["dashboard"], panel=q["panel"]):
                defined = set(dq.variables_of(q["dashboard"])) | set(dq.GRAFANA_BUILTINS)
                # label_replace's "${1}" is a capture group, not a variable
                used = {v for v in dq.used_variables(q["expr"]) if not v.isdigit()}
                self.assertLessEqual(used, defined)

    def test_panel_titles_are_unique_per_dashboard(self):
        for definition in dq.generate.load_definitions().values():
            titles = [p["title"] for _, p in dq.generate.panels_of(definition)]
            self.assertEqual(len(titles), len(set(titles)), definition["uid"])


class Generated(unittest.TestCase):
    def test_committed_output_is_what_generate_writes(self):
        p = subprocess.run([sys.executable, GENERATE, "--check"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_check_notices_a_hand_edit(self):
        # --check would pass vacuously if it compared nothing: run it on a copy with one change
        tmp = tempfile.mkdtemp(prefix="keel-dash-")
        try:
            copy = os.path.join(tmp, "monitoring")
            shutil.copytree(os.path.join(dq.REPO, "deploy", "monitoring", "dashboards"), os.path.join(copy, "dashboards"))
            shutil.copytree(GRAFANA, os.path.join(copy, "grafana"))
            path = os.path.join(copy, "grafana", "dashboards", "keel-overview.json")
            with open(path) as f:
                d = json.load(f)
            d["title"] += " (edited)"
            with open(path, "w") as f:
                json.dump(d, f)
            p = subprocess.run([sys.executable, os.path.join(copy, "dashboards", "generate.py"), "--check"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("keel-overview.json", p.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_dashboards_have_the_shape_grafana_reads(self):
        validator = load_schema("grafana-dashboard.schema.json")
        paths = sorted(glob.glob(os.path.join(GRAFANA, "dashboards", "*.json")))
        self.assertEqual({os.path.basename(p)[:-5] for p in paths}, WANTED_DASHBOARDS)
        for path in paths:
            with open(path) as f:
                dashboard = json.load(f)
            with self.subTest(dashboard=os.path.basename(path)):
                errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(dashboard)]
                self.assertEqual(errors, [])
                ids = [p["id"] for p in dashboard["panels"]]
                self.assertEqual(len(ids), len(set(ids)), "panel ids are unique")
                cells = set()
                for p in dashboard["panels"]:
                    g = p["gridPos"]
                    self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
                    mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
                    self.assertFalse(cells & mine, f"{p['title']} overlaps another panel")
                    cells |= mine

    def test_provisioning(self):
        with open(os.path.join(GRAFANA, "provisioning", "datasources", "keel.yaml")) as f:
            ds = yaml.safe_load(f)["datasources"]
        by_uid = {d["uid"]: d for d in ds}
        self.assertEqual(set(by_uid), {"victoriametrics", "loki", "tempo"})
        self.assertEqual(by_uid["victoriametrics"]["type"], "prometheus")
        self.assertTrue(by_uid["victoriametrics"]["isDefault"])
        # trace -> logs and logs -> trace refer to datasources that exist
        self.assertEqual(by_uid["tempo"]["jsonData"]["tracesToLogsV2"]["datasourceUid"], "loki")
        self.assertTrue(by_uid["tempo"]["jsonData"]["tracesToLogsV2"]["filterByTraceID"])
        self.assertEqual(by_uid["loki"]["jsonData"]["derivedFields"][0]["datasourceUid"], "tempo")
        # Grafana expands ${...} in provisioning files: Grafana's own ${__...} must be escaped
        with open(os.path.join(GRAFANA, "provisioning", "datasources", "keel.yaml")) as f:
            text = f.read()
        self.assertNotRegex(text.replace("$${", ""), r"\$\{")
        with open(os.path.join(GRAFANA, "provisioning", "dashboards", "keel.yaml")) as f:
            providers = yaml.safe_load(f)["providers"]
        self.assertEqual(providers[0]["options"]["path"], "/var/lib/grafana/dashboards/keel")


class QueriesParse(unittest.TestCase):
    def test_prometheus_parser(self):
        groups = [{"name": "dashboards", "rules": [
            {"record": f"dashboard:q{i}", "expr": dq.runnable(q["expr"])} for i, q in enumerate(dq.all_queries())]}]
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            yaml.safe_dump({"groups": groups}, f)
        try:
            p = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True, timeout=60)
        finally:
            os.unlink(f.name)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"SUCCESS: {len(groups[0]['rules'])} rules found", p.stdout)

    def test_victoriametrics_parser(self):
        data = tempfile.mkdtemp(prefix="keel-vm-")
        port = free_port()
        log = open(os.path.join(data, "vm.log"), "w")
        vm = subprocess.Popen(["victoria-metrics", f"-httpListenAddr=127.0.0.1:{port}",
                               "-storageDataPath=" + os.path.join(data, "storage"), "-loggerLevel=ERROR"],
                              stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(base + "/health", timeout=2)
                    break
                except OSError:
                    if time.monotonic() > deadline or vm.poll() is not None:
                        self.fail("VictoriaMetrics did not start")
                    time.sleep(0.1)

            def query(expr):
                url = base + "/api/v1/query?query=" + urllib.parse.quote(expr, safe="")
                try:
                    with urllib.request.urlopen(url, timeout=10) as r:
                        return r.status, json.load(r)
                except urllib.error.HTTPError as e:
                    return e.code, e.read().decode(errors="replace")[:300]

            # the check can fail: a broken query is refused
            status, _ = query("sum(rate(up[1m])")
            self.assertNotEqual(status, 200)
            for q in dq.all_queries():
                with self.subTest(dashboard=q["dashboard"], panel=q["panel"]):
                    status, body = query(dq.runnable(q["expr"]))
                    self.assertEqual(status, 200, body)
                    self.assertEqual(body["status"], "success")
        finally:
            vm.terminate()
            try:
                vm.wait(10)
            except subprocess.TimeoutExpired:
                vm.kill()
                vm.wait()
            log.close()
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
