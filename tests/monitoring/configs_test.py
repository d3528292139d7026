#!/usr/bin/python3
"""The compose-only monitoring configs (deploy/monitoring: Loki, Tempo, the OpenTelemetry
Collector, compose.grafana.yaml with Grafana's provisioning). None of these programs exists
on this machine (nor a compose engine), so this checks what can be checked without them: the
files parse, the pipelines are complete, retention is as the seed asks, every host name a
config sends to is a compose service, every mounted file exists, and ports stay on loopback.
README.md in deploy/monitoring says what was not run."""
import os
import re
import unittest
from urllib.parse import urlparse

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MON = os.path.join(REPO, "deploy", "monitoring")
COMPOSE_DIR = os.path.join(REPO, "deploy", "compose")   # compose resolves paths from the first file's dir


def load(*parts):
    with open(os.path.join(*parts)) as f:
        return yaml.safe_load(f)


def compose_services():
    """{name: definition} of every service of the compose layers plus compose.grafana.yaml."""
    out = {}
    for name in ("db.yaml", "monitoring.yaml", "app.yaml"):
        path = os.path.join(COMPOSE_DIR, name)
        if os.path.exists(path):
            out.update(load(path).get("services") or {})
    return out


def host_of(endpoint):
    if "://" not in endpoint:
        endpoint = "tcp://" + endpoint
    return urlparse(endpoint).hostname


class Loki(unittest.TestCase):
    def setUp(self):
        self.cfg = load(MON, "loki", "loki.yaml")

    def test_retention_is_the_seeds(self):
        limits = self.cfg["limits_config"]
        self.assertEqual(limits["retention_period"], "168h")
        self.assertEqual(limits["reject_old_samples_max_age"], "168h")
        self.assertTrue(limits["reject_old_samples"])
        # retention is applied by the compactor only; Loki 3 refuses it without a delete store
        self.assertTrue(self.cfg["compactor"]["retention_enabled"])
        self.assertIn("delete_request_store", self.cfg["compactor"])

    def test_takes_otlp_with_trace_ids(self):
        self.assertTrue(self.cfg["limits_config"]["allow_structured_metadata"])
        schema = self.cfg["schema_config"]["configs"][-1]
        self.assertEqual((schema["store"], schema["schema"]), ("tsdb", "v13"))   # needed for structured metadata
        self.assertEqual(self.cfg["server"]["http_listen_port"], 3100)


class Tempo(unittest.TestCase):
    def setUp(self):
        self.cfg = load(MON, "tempo", "tempo.yaml")

    def test_otlp_receivers(self):
        otlp = self.cfg["distributor"]["receivers"]["otlp"]["protocols"]
        self.assertEqual(otlp["grpc"]["endpoint"], "0.0.0.0:4317")
        self.assertEqual(otlp["http"]["endpoint"], "0.0.0.0:4318")

    def test_metrics_generator_writes_to_victoria_metrics(self):
        writes = self.cfg["metrics_generator"]["storage"]["remote_write"]
        vm = load(MON, "grafana", "provisioning", "datasources", "keel.yaml")["datasources"][0]
        self.assertEqual(vm["uid"], "victoriametrics")
        self.assertEqual([w["url"] for w in writes], [vm["url"] + "/api/v1/write"])
        processors = self.cfg["overrides"]["defaults"]["metrics_generator"]["processors"]
        self.assertLessEqual({"service-graphs", "span-metrics"}, set(processors))

    def test_keeps_traces_as_long_as_loki_keeps_logs(self):
        self.assertEqual(self.cfg["compactor"]["compaction"]["block_retention"],
                         load(MON, "loki", "loki.yaml")["limits_config"]["retention_period"])


class Collector(unittest.TestCase):
    def setUp(self):
        self.cfg = load(MON, "otelcol", "otelcol.yaml")
        self.pipelines = self.cfg["service"]["pipelines"]

    def test_every_component_of_a_pipeline_is_defined(self):
        for name, p in self.pipelines.items():
            for kind in ("receivers", "processors", "exporters"):
                for component in p[kind]:
                    with self.subTest(pipeline=name, component=component):
                        self.assertIn(component, self.cfg[kind])
        for ext in self.cfg["service"].get("extensions", []):
            self.assertIn(ext, self.cfg["extensions"])

    def test_memory_limiter_first_and_batch_in_every_pipeline(self):
        self.assertEqual(set(self.pipelines), {"traces", "logs", "metrics"})
        for name, p in self.pipelines.items():
            with self.subTest(pipeline=name):
                self.assertEqual(p["processors"][0], "memory_limiter")
                self.assertIn("batch", p["processors"])

    def test_where_each_signal_goes(self):
        ex = self.cfg["exporters"]
        self.assertEqual(self.pipelines["traces"]["receivers"], ["otlp"])
        self.assertEqual([ex[e]["endpoint"] for e in self.pipelines["traces"]["exporters"]], ["tempo:4317"])
        self.assertEqual([ex[e]["endpoint"] for e in self.pipelines["logs"]["exporters"]], ["http://loki:3100/otlp"])
        self.assertEqual([ex[e]["endpoint"] for e in self.pipelines["metrics"]["exporters"]],
                         ["http://victoria-metrics:8428/api/v1/write"])
        self.assertIn("filelog/containers", self.pipelines["logs"]["receivers"])

    def test_logs_keep_the_trace_and_service(self):
        ops = self.cfg["receivers"]["filelog/containers"]["operators"]
        types = [o["type"] for o in ops]
        self.assertIn("trace_parser", types)
        trace = ops[types.index("trace_parser")]
        self.assertEqual(trace["trace_id"]["parse_from"], "attributes.trace_id")
        self.assertEqual(trace["span_id"]["parse_from"], "attributes.span_id")
        moved = {o["to"] for o in ops if o["type"] == "move"}
        self.assertIn('resource["service.name"]', moved)
        ids = [o["id"] for o in ops if "id" in o]
        self.assertEqual(len(ids), len(set(ids)))

    def test_scrapes_only_what_victoria_metrics_does_not(self):
        jobs = {j["job_name"] for j in self.cfg["receivers"]["prometheus/compose-only"]["config"]["scrape_configs"]}
        self.assertFalse(jobs & set(compose_services()), "scraped twice: VictoriaMetrics scrapes the compose layers")


class Compose(unittest.TestCase):
    def setUp(self):
        self.doc = load(MON, "compose.grafana.yaml")
        self.services = self.doc["services"]

    def test_services_and_no_clash_with_the_layers(self):
        self.assertEqual(set(self.services), {"grafana", "loki", "tempo", "otel-collector"})
        self.assertFalse(set(self.services) & set(compose_services()))
        self.assertEqual(self.doc["name"], "keel")

    def test_images_pinned_and_ports_on_loopback(self):
        for name, svc in self.services.items():
            with self.subTest(service=name):
                self.assertRegex(svc["image"], r":[0-9][\w.-]*$")
                for port in svc.get("ports", []):
                    self.assertTrue(port.startswith("127.0.0.1:"), port)

    def test_mounted_files_exist(self):
        for name, svc in self.services.items():
            for volume in svc.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("."):
                    with self.subTest(service=name, volume=volume):
                        self.assertTrue(os.path.exists(os.path.normpath(os.path.join(COMPOSE_DIR, source))))

    def test_every_host_the_configs_send_to_is_a_compose_service(self):
        names = set(self.services) | set(compose_services())
        hosts = set()
        ds = load(MON, "grafana", "provisioning", "datasources", "keel.yaml")["datasources"]
        hosts |= {host_of(d["url"]) for d in ds}
        col = load(MON, "otelcol", "otelcol.yaml")
        hosts |= {host_of(e["endpoint"]) for e in col["exporters"].values()}
        for job in col["receivers"]["prometheus/compose-only"]["config"]["scrape_configs"]:
            for sc in job["static_configs"]:
                hosts |= {host_of(t) for t in sc["targets"]}
        tempo = load(MON, "tempo", "tempo.yaml")
        hosts |= {host_of(w["url"]) for w in tempo["metrics_generator"]["storage"]["remote_write"]}
        hosts.discard("127.0.0.1")
        self.assertLessEqual(hosts, names)
        for dep in (d for svc in self.services.values() for d in svc.get("depends_on", [])):
            self.assertIn(dep, names)

    def test_grafana_reads_the_generated_provisioning(self):
        mounts = {v.split(":")[1]: v.split(":")[0] for v in self.services["grafana"]["volumes"] if v.startswith(".")}
        self.assertEqual(os.path.normpath(os.path.join(COMPOSE_DIR, mounts["/etc/grafana/provisioning"])),
                         os.path.join(MON, "grafana", "provisioning"))
        provider = load(MON, "grafana", "provisioning", "dashboards", "keel.yaml")["providers"][0]
        self.assertEqual(os.path.normpath(os.path.join(COMPOSE_DIR, mounts[provider["options"]["path"]])),
                         os.path.join(MON, "grafana", "dashboards"))
        home = self.services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
        self.assertTrue(home.startswith(provider["options"]["path"] + "/"))
        self.assertTrue(os.path.exists(os.path.join(MON, "grafana", "dashboards", os.path.basename(home))))
        self.assertTrue(re.search(r"\$\{GRAFANA_ADMIN_PASSWORD:\?", self.services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
