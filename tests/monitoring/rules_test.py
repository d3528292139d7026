#!/usr/bin/python3
"""The alert rules of deploy/monitoring/rules: promtool checks and unit-tests them, vmalert
(which evaluates them natively) accepts them, and every alert has the labels and annotations
Alertmanager and alert-relay rely on, a runbook section in docs/operations.md, and unit tests
in which it both fires and stays quiet. No stack, a few seconds."""
import glob
import os
import re
import subprocess
import sys
import unittest

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
RULES = os.path.join(REPO, "deploy", "monitoring", "rules")
RULE_FILES = sorted(glob.glob(os.path.join(RULES, "*.rules.yml")))
TEST_FILES = sorted(glob.glob(os.path.join(RULES, "tests", "*.test.yml")))
OPERATIONS = os.path.join(REPO, "docs", "operations.md")


def run(cmd, cwd=None):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def alerts():
    """(file, rule dict) of every alerting rule."""
    for path in RULE_FILES:
        with open(path) as f:
            doc = yaml.safe_load(f)
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    yield os.path.basename(path), rule


def github_anchors(markdown):
    """The anchors GitHub gives the headings of a markdown text."""
    out = set()
    for line in markdown.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(slug)
    return out


class Rules(unittest.TestCase):
    def test_files_exist(self):
        self.assertGreaterEqual(len(RULE_FILES), 4, RULE_FILES)
        self.assertEqual(len(TEST_FILES), len(RULE_FILES), "one test file per rules file")

    def test_promtool_check(self):
        rc, out = run(["promtool", "check", "rules", *RULE_FILES])
        self.assertEqual(rc, 0, out)

    def test_promtool_unit_tests(self):
        rc, out = run(["promtool", "test", "rules", *TEST_FILES], cwd=os.path.join(RULES, "tests"))
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.count("SUCCESS"), len(TEST_FILES), out)

    def test_vmalert_accepts_them(self):
        args = ["vmalert", "-dryRun", "-rule.validateExpressions", "-rule.validateTemplates"]
        for path in RULE_FILES:
            args.append("-rule=" + path)
        rc, out = run(args)
        self.assertEqual(rc, 0, out)
        self.assertNotIn("fatal", out)

    def test_vmalert_refuses_a_broken_rule(self):
        # the check above would pass vacuously if -dryRun read nothing
        bad = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"keel-bad-rule-{os.getpid()}.yml")
        with open(bad, "w") as f:
            f.write('groups:\n- name: x\n  rules:\n  - alert: A\n    expr: sum(rate(up[5m])\n')
        try:
            rc, out = run(["vmalert", "-dryRun", "-rule=" + bad])
        finally:
            os.unlink(bad)
        self.assertNotEqual(rc, 0, out)

    def test_labels_and_annotations(self):
        with open(OPERATIONS) as f:
            anchors = github_anchors(f.read())
        names = set()
        for path, rule in alerts():
            name = rule["alert"]
            with self.subTest(alert=name):
                self.assertNotIn(name, names, "alert names are unique")
                names.add(name)
                labels, ann = rule.get("labels", {}), rule.get("annotations", {})
                self.assertIn(labels.get("severity"), ("critical", "warning"))
                # the scrape job less "-exporter", or (JetStream's view) the consumer's service
                self.assertIn(labels.get("service"), ('{{ $labels.job | reReplaceAll "-exporter$" "" }}',
                                                      "{{ $labels.service }}"))
                if labels["service"] == "{{ $labels.service }}":
                    self.assertIn('"service"', rule["expr"], "the expression must set `service`")
                for key in ("summary", "description", "runbook"):
                    self.assertTrue(ann.get(key), f"{name} has no {key}")
                m = re.fullmatch(r"docs/operations\.md#([\w-]+)", ann["runbook"])
                self.assertTrue(m, ann["runbook"])
                self.assertIn(m.group(1), anchors, f"docs/operations.md has no section #{m.group(1)}")
        self.assertGreaterEqual(len(names), 15)

    def test_every_alert_fires_and_stays_quiet_in_a_unit_test(self):
        fires, quiet = set(), set()
        for path in TEST_FILES:
            with open(path) as f:
                doc = yaml.safe_load(f)
            for test in doc["tests"]:
                for case in test.get("alert_rule_test", []):
                    (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
        for _, rule in alerts():
            with self.subTest(alert=rule["alert"]):
                self.assertIn(rule["alert"], fires, "no test where it fires")
                self.assertIn(rule["alert"], quiet, "no test where it stays quiet")


if __name__ == "__main__":
    unittest.main(verbosity=2)
