#!/usr/bin/python3
"""tools/new-service without a build (~2 s): names refused with exit 2, what a generation writes
and wires, --remove restoring every edited file byte for byte, and leftovers of a killed run.
Works on a copy of the files the tool reads, in a temporary directory; the tree is not touched.

    /usr/bin/python3 tools/new-service/tests/tool_test.py
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL_DIR = os.path.dirname(HERE)
REPO = os.path.abspath(os.path.join(TOOL_DIR, "..", ".."))
TOOL = os.path.join(TOOL_DIR, "new-service")
sys.path.insert(0, TOOL_DIR)
sys.dont_write_bytecode = True

import new_service as ns  # noqa: E402

EDITED = [ns.APP_YAML, ns.DB_YAML, ns.GATEWAY_TEMPLATE]


def make_sandbox():
    """A tree with what the tool reads: deploy/, cmake/, the service folders, libs/ and tools/
    names, the testing headers (for the conventions) and the CMake files naming executables."""
    root = tempfile.mkdtemp(prefix="keel-new-service-tool-")
    shutil.copytree(os.path.join(REPO, "deploy"), os.path.join(root, "deploy"))
    shutil.copytree(os.path.join(REPO, "cmake"), os.path.join(root, "cmake"))
    os.makedirs(os.path.join(root, "services"))
    shutil.copy(os.path.join(REPO, "services", "CMakeLists.txt"), os.path.join(root, "services"))
    for d in ("services", "libs", "tools", "bench"):
        src = os.path.join(REPO, d)
        for n in os.listdir(src):
            if os.path.isdir(os.path.join(src, n)) and not n.startswith("."):
                os.makedirs(os.path.join(root, d, n), exist_ok=True)
                cm = os.path.join(src, n, "CMakeLists.txt")
                if os.path.exists(cm):
                    shutil.copy(cm, os.path.join(root, d, n, "CMakeLists.txt"))
    for f in ("bench/CMakeLists.txt", ".clang-format"):
        if os.path.exists(os.path.join(REPO, f)):
            os.makedirs(os.path.dirname(os.path.join(root, f)), exist_ok=True)
            shutil.copy(os.path.join(REPO, f), os.path.join(root, f))
    inc = os.path.join("libs", "testing", "include", "keel", "testing")
    if os.path.isdir(os.path.join(REPO, inc)):
        shutil.copytree(os.path.join(REPO, inc), os.path.join(root, inc))
    return root


def run(root, *args):
    return subprocess.run([TOOL, "--root", root, *args], capture_output=True, text=True, timeout=60)


def snapshot(root):
    out = {}
    for rel in EDITED:
        with open(os.path.join(root, rel), "rb") as f:
            out[rel] = f.read()
    out["services"] = sorted(os.listdir(os.path.join(root, "services")))
    return out


class NewServiceTool(unittest.TestCase):
    def setUp(self):
        self.root = make_sandbox()
        self.before = snapshot(self.root)

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def assert_untouched(self):
        self.assertEqual(snapshot(self.root), self.before)

    def test_bad_names_exit_2_and_change_nothing(self):
        for name, why in [("", "required"), ("Gift", "invalid"), ("9lives", "invalid"),
                          ("gift_cards", "invalid"), ("a b", "invalid"), ("gift-", "'-' at the end"),
                          ("a--b", "'--'"), ("x" * 33, "at most 32"), ("auth", "already exists"),
                          ("catalog", "already exists"), ("gateway", "reserved"), ("new", "reserved"),
                          ("class", "reserved"), ("api", "reserved"), ("postgres", "reserved"),
                          ("pg-stats", "reserved"), ("bus", "already taken"), ("testing", "already taken"),
                          ("bench-bus", "already taken"), ("telegram-fake", "reserved")]:
            with self.subTest(name=name):
                p = run(self.root, name) if name else run(self.root)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(why, p.stderr)
                self.assertTrue(p.stderr.startswith("new-service: ") or "usage:" in p.stderr, p.stderr)
        self.assert_untouched()

    def test_generate_wires_everything_and_remove_restores_bytes(self):
        p = run(self.root, "gift-cards")
        self.assertEqual(p.returncode, 0, p.stderr)
        svc = os.path.join(self.root, "services", "gift-cards")
        for rel in ("CMakeLists.txt", "README.md", "main.cpp", "openapi.yaml", "migrations/0001_init.sql",
                    "src/routes.hpp", "src/routes.cpp", "src/routes_test.cpp", "src/settings.hpp",
                    "src/settings.cpp", "src/item_store.hpp", "src/item_store.cpp",
                    "src/item_store_pgtest.cpp"):
            self.assertTrue(os.path.isfile(os.path.join(svc, rel)), rel)
        texts = {}
        for dirpath, _, files in os.walk(svc):
            for fn in files:
                with open(os.path.join(dirpath, fn)) as f:
                    texts[os.path.relpath(os.path.join(dirpath, fn), svc)] = f.read()
        for rel, text in texts.items():
            self.assertNotRegex(text, r"@[A-Za-z_]+@|@@(if|else|endif)", rel)
        self.assertIn("keel_add_service(gift-cards NAMESPACE keel::gift_cards DEPS keel::service)",
                      texts["CMakeLists.txt"])
        self.assertIn("namespace keel::gift_cards", texts["src/routes.cpp"])
        self.assertIn("struct GiftCardsContext", texts["src/routes.hpp"])
        self.assertIn("GIFT_CARDS_ITEM_NAME_MAX", texts["README.md"])
        # the domain knows no HTTP
        for rel in ("src/item_store.hpp", "src/item_store.cpp"):
            self.assertNotIn("keel/http", texts[rel], rel)
            self.assertNotIn("HttpError", texts[rel], rel)
        # the OpenAPI conventions: an operationId everywhere, `security: []` on the public op
        spec = yaml.safe_load(texts["openapi.yaml"])
        self.assertTrue(spec["openapi"].startswith("3."))
        self.assertEqual(spec["security"], [{"bearer": []}])
        ops = {(m.upper(), path): op for path, item in spec["paths"].items()
               for m, op in item.items() if m in ("get", "post", "put", "patch", "delete")}
        self.assertEqual(set(ops), {("POST", "/api/gift-cards/items"), ("GET", "/api/gift-cards/items/{id}")})
        self.assertEqual({op["operationId"] for op in ops.values()}, {"createGiftCardsItem", "getGiftCardsItem"})
        self.assertEqual(ops[("GET", "/api/gift-cards/items/{id}")]["security"], [])
        self.assertNotIn("security", ops[("POST", "/api/gift-cards/items")])
        for op in ops.values():
            self.assertIn("5XX", op["responses"])
        # compose: the service with two instances, its database, the gateway
        with open(os.path.join(self.root, ns.APP_YAML)) as f:
            app = yaml.safe_load(f)
        s = app["services"]["gift-cards"]
        self.assertEqual(s["deploy"]["replicas"], 2)
        self.assertIn("dbname=gift_cards user=gift_cards", s["x-native"]["environment"]["PG_DSN"])
        self.assertEqual(s["x-native"]["command"], ["${KEEL_BUILD_DIR:-build/release}/services/gift-cards/keel-gift-cards"])
        self.assertIn("gift-cards", app["services"]["gateway"]["x-native"]["nginx"]["upstreams"])
        self.assertIn("gift-cards", app["services"]["gateway"]["depends_on"])
        self.assertIn("upstream gift-cards { server gift-cards:8080", app["services"]["gateway"]["environment"]["UPSTREAMS"])
        with open(os.path.join(self.root, ns.DB_YAML)) as f:
            db = f.read()
        self.assertEqual(db.count('-v svc=gift_cards -v "pw=${GIFT_CARDS_DB_PASSWORD:-gift_cards}"'), 2)
        with open(os.path.join(self.root, ns.GATEWAY_TEMPLATE)) as f:
            tpl = f.read()
        self.assertIn("location /api/gift-cards/ {\n            proxy_pass http://gift-cards;\n", tpl)
        self.assertIn("location /gift-cards/ {\n            proxy_pass http://gift-cards/;\n", tpl)
        self.assertEqual(run(self.root, "--list").stdout.split(), ["gift-cards"])

        again = run(self.root, "gift-cards")
        self.assertEqual(again.returncode, 2)
        self.assertIn("already exists", again.stderr)

        p = run(self.root, "--remove", "gift-cards")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assert_untouched()
        self.assertEqual(run(self.root, "--list").stdout, "")
        p = run(self.root, "--remove", "gift-cards")
        self.assertEqual(p.returncode, 2)

    def test_two_services_removed_in_either_order(self):
        self.assertEqual(run(self.root, "alpha").returncode, 0)
        self.assertEqual(run(self.root, "beta-2").returncode, 0)
        with open(os.path.join(self.root, ns.APP_YAML)) as f:
            ups = yaml.safe_load(f)["services"]["gateway"]["x-native"]["nginx"]["upstreams"]
        self.assertEqual(ups[-2:], ["alpha", "beta-2"])
        self.assertEqual(run(self.root, "--remove", "alpha").returncode, 0)
        self.assertEqual(run(self.root, "--remove", "beta-2").returncode, 0)
        self.assert_untouched()

    def test_remove_refuses_hand_made_services(self):
        p = run(self.root, "--remove", "auth")
        self.assertEqual(p.returncode, 2)
        self.assertIn("was not made by tools/new-service", p.stderr)
        p = run(self.root, "--remove", "Auth")
        self.assertEqual(p.returncode, 2)
        self.assert_untouched()

    def test_leftovers_of_a_killed_run(self):
        # killed between the rename and the compose edits: a folder and no compose entry
        self.assertEqual(run(self.root, "half").returncode, 0)
        with open(os.path.join(self.root, ns.APP_YAML), "rb") as f:
            edited_app = f.read()
        for rel in EDITED:
            with open(os.path.join(self.root, rel), "wb") as f:
                f.write(self.before[rel])
        self.assertEqual(run(self.root, "--list").stdout.split(), ["half"])
        self.assertEqual(run(self.root, "--remove", "half").returncode, 0)
        self.assert_untouched()
        # the other way round: compose entry (with the marker) and no folder
        with open(os.path.join(self.root, ns.APP_YAML), "wb") as f:
            f.write(edited_app)
        self.assertEqual(run(self.root, "--list").stdout.split(), ["half"])
        self.assertEqual(run(self.root, "--remove", "half").returncode, 0)
        self.assert_untouched()
        # a hidden work directory and a temporary file are cleaned by the next run
        os.makedirs(os.path.join(self.root, "services", ".new-service-x-123", "src"))
        with open(os.path.join(self.root, ns.APP_YAML + ".new-service.tmp"), "w") as f:
            f.write("partial")
        self.assertEqual(run(self.root, "--list").returncode, 0)
        self.assertEqual(run(self.root, "gone").returncode, 0)
        self.assertEqual(run(self.root, "--remove", "gone").returncode, 0)
        self.assert_untouched()
        self.assertFalse(os.path.exists(os.path.join(self.root, ns.APP_YAML + ".new-service.tmp")))

    def test_a_failed_edit_leaves_nothing(self):
        # app.yaml without a gateway: the tool refuses before writing anything
        path = os.path.join(self.root, ns.APP_YAML)
        with open(path) as f:
            text = f.read()
        broken = re.sub(r"\n  gateway:\n(.|\n)*", "\n", text)
        with open(path, "w") as f:
            f.write(broken)
        self.before = snapshot(self.root)
        p = run(self.root, "lonely")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("nothing was changed", p.stderr)
        self.assert_untouched()

    def test_conventions_follow_the_tree(self):
        subs = ns.names_of("x")
        text = "a\n@@if testing_pg\nnew @service@\n@@else\nold\n@@endif\n@@if !migrations_header\nproto\n@@endif\n"
        self.assertEqual(ns.render(text, subs, {"testing_pg": True, "migrations_header": True}), "a\nnew x\n")
        self.assertEqual(ns.render(text, subs, {"testing_pg": False, "migrations_header": False}), "a\nold\nproto\n")
        with self.assertRaises(ns.Broken):
            ns.render("@nope@", subs, {})
        self.assertEqual(ns.names_of("gift-cards2")["Pascal"], "GiftCards2")


if __name__ == "__main__":
    unittest.main(verbosity=2)
