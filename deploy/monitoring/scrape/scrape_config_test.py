#!/usr/bin/python3
"""VictoriaMetrics' scrape configurations, without a stack (tests/e2e/monitoring_test.py has one):
- docker.yml is what `keel-stack scrape-config --docker` generates from the compose files now,
  lists every keel service and exporter, and passes `promtool check config`;
- natively, keel-stack's targets (tools/stack/keel_stack/monitoring.py) for a scaled service are one
  file_sd group per replica with job/service/instance labels, and the rendered native.yml.template
  passes `promtool check config` (which reads the file_sd files too) and VictoriaMetrics' own
  `-promscrape.config.dryRun`;
- what is scraped: keel images, `x-metrics`, `x-metrics: false`.

    /usr/bin/python3 deploy/monitoring/scrape/scrape_config_test.py
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools", "stack"))
from keel_stack import model, monitoring  # noqa: E402

KEEL_STACK = os.path.join(REPO, "tools", "stack", "keel-stack")
DOCKER_YML = os.path.join(HERE, "docker.yml")
PROMTOOL = "/usr/bin/promtool"
VICTORIA_METRICS = "/usr/bin/victoria-metrics"
EXPORTERS = ("node-exporter", "postgres-exporter", "redis-exporter", "nginx-exporter", "nats-exporter")


def promtool_check_config(path):
    return subprocess.run([PROMTOOL, "check", "config", path], capture_output=True, text=True, timeout=60)


class FakeReplica:
    def __init__(self, name, n, port):
        self.port, self.instance_id = port, f"{name}-{n}"

    def runtime(self):
        return {"PORT": str(self.port)}


class DockerConfigTest(unittest.TestCase):
    def test_docker_yml_is_generated_from_the_compose_files(self):
        p = subprocess.run([KEEL_STACK, "scrape-config", "--docker"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(DOCKER_YML) as f:
            current = f.read()
        self.assertEqual(current, p.stdout, "deploy/monitoring/scrape/docker.yml is stale: run "
                         "tools/stack/keel-stack scrape-config --docker > deploy/monitoring/scrape/docker.yml")

    def test_docker_yml_scrapes_every_service_and_exporter(self):
        with open(os.path.join(REPO, "deploy", "compose", "app.yaml")) as f:
            app = yaml.safe_load(f)
        keel = [n for n, s in app["services"].items() if str((s or {}).get("image", "")).startswith("keel/")]
        with open(DOCKER_YML) as f:
            jobs = {j["job_name"]: j for j in yaml.safe_load(f)["scrape_configs"]}
        for name in keel + list(EXPORTERS) + ["victoria-metrics", "vmalert", "alertmanager"]:
            with self.subTest(service=name):
                self.assertIn(name, jobs)
                sd = jobs[name]["dns_sd_configs"][0]
                self.assertEqual(sd["type"], "A")   # every replica's address
        self.assertEqual(jobs["catalog"]["dns_sd_configs"][0], {"names": ["catalog"], "type": "A", "port": 8080})
        # the nginx exporter lives in the gateway's network namespace
        self.assertEqual(jobs["nginx-exporter"]["dns_sd_configs"][0]["names"], ["gateway"])
        self.assertNotIn("telegram-fake", jobs)   # native only, and no /metrics
        self.assertNotIn("postgres", jobs)

    def test_promtool_accepts_docker_yml(self):
        r = promtool_check_config(DOCKER_YML)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class NativeTargetsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="keel-scrape-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def supervisor(self, doc):
        services = model.build_services(doc)
        order = model.start_order(services)
        replicas, port = {}, 20000
        for name in order:
            replicas[name] = []
            for n in range(1, services[name].replicas + 1):
                replicas[name].append(FakeReplica(name, n, port))
                port += 1
        sup = types.SimpleNamespace(var_dir=self.dir, root=REPO, order=order, services=services,
                                    replicas=replicas, base_env={"SCRAPE_INTERVAL": "3s"})
        sup.service_env = lambda svc, rt: dict(svc.env, **rt)
        return sup

    def doc(self):
        output = os.path.join(self.dir, "monitoring", "promscrape.yml")
        return {"services": {
            "catalog": {"image": "keel/catalog:latest", "deploy": {"replicas": 3},
                        "x-native": {"command": ["true"]}},
            "node-exporter": {"image": "prom/node-exporter", "x-metrics": {"port": 9100},
                              "x-native": {"command": ["true"]}},
            "redis": {"image": "redis:7", "x-native": {"command": ["true"]}},
            "odd": {"image": "keel/odd", "x-metrics": False, "x-native": {"command": ["true"]}},
            "victoria-metrics": {"image": "victoriametrics/victoria-metrics", "x-metrics": {"port": 8428},
                                 "x-native": {"command": ["true"], "scrape": {
                                     "template": "deploy/monitoring/scrape/native.yml.template",
                                     "output": output}}},
        }}

    def test_one_target_per_replica_and_a_config_both_tools_accept(self):
        sup = self.supervisor(self.doc())
        out = monitoring.prepare(sup, sup.services["victoria-metrics"])
        tdir = monitoring.targets_dir(self.dir)
        self.assertEqual(sorted(os.listdir(tdir)), ["catalog.json", "node-exporter.json", "victoria-metrics.json"])
        with open(os.path.join(tdir, "catalog.json")) as f:
            groups = json.load(f)
        self.assertEqual([g["targets"] for g in groups], [["127.0.0.1:20000"], ["127.0.0.1:20001"], ["127.0.0.1:20002"]])
        self.assertEqual([g["labels"]["instance"] for g in groups], ["catalog-1", "catalog-2", "catalog-3"])
        self.assertEqual({(g["labels"]["job"], g["labels"]["service"]) for g in groups}, {("catalog", "catalog")})
        with open(out) as f:
            text = f.read()
        self.assertIn("scrape_interval: 3s", text)
        self.assertIn(f'"{tdir}/*.json"', text)
        r = promtool_check_config(out)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = subprocess.run([VICTORIA_METRICS, f"-promscrape.config={out}", "-promscrape.config.dryRun",
                            "-loggerLevel=ERROR"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_a_service_that_no_longer_runs_loses_its_targets(self):
        sup = self.supervisor(self.doc())
        tdir = monitoring.targets_dir(self.dir)
        os.makedirs(tdir)
        with open(os.path.join(tdir, "gone.json"), "w") as f:
            f.write("[]")
        monitoring.prepare(sup, sup.services["victoria-metrics"])
        self.assertNotIn("gone.json", os.listdir(tdir))

    def test_what_is_scraped(self):
        self.assertEqual(monitoring.metrics_spec("a", "keel/a:1", None), {"port": 8080, "path": "/metrics", "host": "a"})
        self.assertIsNone(monitoring.metrics_spec("a", "keel/a:1", False))
        self.assertIsNone(monitoring.metrics_spec("r", "redis:7", None))
        self.assertEqual(monitoring.metrics_spec("x", "nginx/exp", {"port": 9113, "host": "gateway"}),
                         {"port": 9113, "path": "/metrics", "host": "gateway"})
        with self.assertRaises(model.ConfigError):
            model.build_services({"services": {"a": {"x-metrics": "yes", "x-native": {"command": ["true"]}}}})


if __name__ == "__main__":
    unittest.main(verbosity=2)
