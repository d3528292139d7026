#!/usr/bin/python3
"""The load lab end to end, at its smallest: `keel-lab --quick --only steps --max-steps 1` against
a stack of its own (one step of 100 users), into a temporary report directory. Checks that a
report with its plots is written and that latest points at it. About a minute.
Needs the build's keel-load and services (KEEL_BUILD_DIR, default build/release)."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
KEEL_LAB = os.path.join(REPO, "tools", "lab", "keel-lab")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class QuickLabTest(unittest.TestCase):
    def test_smallest_step_writes_a_report_with_plots(self):
        with tempfile.TemporaryDirectory(prefix="keel-lab-test-") as out:
            p = subprocess.run([KEEL_LAB, "--quick", "--only", "steps", "--max-steps", "1", "--out", out],
                               cwd=REPO, capture_output=True, text=True, timeout=170)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr[-4000:])
            latest = os.path.join(out, "latest")
            self.assertTrue(os.path.islink(latest))
            run_dir = os.path.realpath(latest)
            self.assertEqual(os.path.dirname(run_dir), os.path.realpath(out))
            self.assertRegex(os.path.basename(run_dir), r"^\d{8}T\d{6}Z$")
            report = os.path.join(run_dir, "report.md")
            self.assertEqual(p.stdout.strip(), report)
            with open(report) as f:
                text = f.read()
            for heading in ("## Machine", "## nginx static reference", "## 1. Load steps", "## Commands"):
                self.assertIn(heading, text)
            # the nginx reference was measured: its throughput is a number of requests per second
            ref = re.search(r"\*\*(\d+) rps\*\* at most", text)
            self.assertIsNotNone(ref, text)
            self.assertGreater(int(ref.group(1)), 0)
            self.assertNotIn("**Failed:**", text)
            # the step's row: 100 users, a throughput, no errors (then orders confirmed / cancelled, CPU)
            row = re.search(r"^\| 100 \| ([0-9.]+) \|.*\| (\d+)[^|]* \| [0-9-]+ / [0-9-]+ \| [0-9.-]+ \|$", text, re.M)
            self.assertIsNotNone(row, text)
            self.assertGreater(float(row.group(1)), 0)
            self.assertEqual(row.group(2), "0", row.group(0))
            figures = re.findall(r"!\[[^]]*\]\(([^)]+\.png)\)", text)
            self.assertGreaterEqual(len(figures), 1, text)
            for fig in figures:
                path = os.path.join(run_dir, fig)
                self.assertGreater(os.path.getsize(path), 1000, fig)
                with open(path, "rb") as f:
                    self.assertEqual(f.read(8), PNG_MAGIC, fig)
            # keel-load's raw results beside it; the service token shown by its variable's name only
            self.assertTrue(os.path.exists(os.path.join(run_dir, "raw", "steps-100.json")))
            self.assertIn("--service-token $KEEL_SERVICE_TOKEN", text)


if __name__ == "__main__":
    unittest.main(verbosity=2, argv=[sys.argv[0]] + sys.argv[1:])
