#!/usr/bin/python3
"""tools/new-service without a build (seconds): names refused with exit 2, what a generation writes
and wires (app.yaml, db.yaml's secrets and passwords, the NATS user in deploy/nats/auth.conf, the
gateway), --remove restoring every edited file byte for byte, entries already there kept (not
doubled), files not in the expected shape refused with nothing changed, and leftovers of a killed
run. Works on a copy of the files the tool reads, in a temporary directory; the tree is not touched.
When nats-server is installed, the edited auth.conf is checked with `nats-server -t` and a server
started on it: the new user logs in and may publish its own domain, not another's.

    /usr/bin/python3 tools/new-service/tests/tool_test.py
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL_DIR = os.path.dirname(HERE)
REPO = os.path.abspath(os.path.join(TOOL_DIR, "..", ".."))
TOOL = os.path.join(TOOL_DIR, "new-service")
sys.path.insert(0, TOOL_DIR)
sys.dont_write_bytecode = True

import new_service as ns  # noqa: E402

EDITED = list(ns.EDITED)
NATS_SERVER = shutil.which("nats-server") or next(
    (p for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if os.path.exists(p)), None)


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


def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        return f.read()


def write(root, rel, text):
    with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
        f.write(text)


def nats_config_check(root, unset=()):
    """`nats-server -t` on deploy/nats/jetstream.conf (which includes auth.conf) with every
    $NATS_..._PASSWORD it names set (but `unset`); (returncode, output), None without nats-server."""
    if not NATS_SERVER:
        return None
    conf = os.path.join(root, "deploy", "nats")
    names = set(re.findall(r"\$(NATS_[A-Z0-9_]*_PASSWORD)\b", read(root, ns.NATS_AUTH)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    env.update({n: "x" + n.lower().replace("_", "") for n in names if n not in unset})
    p = subprocess.run([NATS_SERVER, "-c", "jetstream.conf", "-t"], cwd=conf, env=env,
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """nats-server (no JetStream) with the sandbox's deploy/nats/auth.conf and every password it
    names set to a known value; say() speaks the client protocol (verbose: +OK / -ERR per line)."""

    def __init__(self, root):
        conf_dir = os.path.join(root, "deploy", "nats")
        self.port = free_port()
        with open(os.path.join(conf_dir, "test-server.conf"), "w") as f:
            f.write(f'host: "127.0.0.1"\nport: {self.port}\ninclude "auth.conf"\n')
        names = set(re.findall(r"\$(NATS_[A-Z0-9_]*_PASSWORD)\b", read(root, ns.NATS_AUTH)))
        self.passwords = {n: "p" + n.lower().replace("_", "") for n in names}
        env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
        env.update(self.passwords)
        self.proc = subprocess.Popen([NATS_SERVER, "-c", "test-server.conf"], cwd=conf_dir, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"nats-server did not start: {self.proc.stderr.read()}")
                time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc.stderr.close()

    def session(self, user, password, *commands):
        """The server's answer to CONNECT and to each command, one line each (PING -> PONG)."""
        import json
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            f = sock.makefile("rb")
            f.readline()   # INFO
            answers = []
            for cmd in [f"CONNECT {json.dumps({'verbose': True, 'user': user, 'pass': password})}", *commands]:
                sock.sendall(cmd.encode() + b"\r\n")
                if cmd.startswith("PUB "):
                    sock.sendall(b"\r\n")   # empty payload
                line = f.readline().decode().strip()
                answers.append(line)
                if line.startswith("-ERR 'Authorization"):
                    break
            return answers


def nats_user(text, user):
    """The entry of `user` in auth.conf, as text (the lines from its `{user: "..."` on)."""
    lines = text.splitlines(keepends=True)
    blocks = [(s, e) for u, s, e in ns._user_blocks(lines) if u == user]
    return "".join(lines[blocks[0][0]:blocks[0][1]]) if len(blocks) == 1 else None


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
                          ("bench-bus", "already taken"), ("telegram-fake", "reserved"),
                          ("operator", "reserved"), ("keel-bus", "already taken")]:
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
        # the secrets: the DSN's password and the NATS user's from generated secrets, no defaults
        env, native = s["environment"], s["x-native"]["environment"]
        for dsn in (env["PG_DSN"], native["PG_DSN"]):
            self.assertIn("user=gift_cards password=${GIFT_CARDS_DB_PASSWORD:?", dsn)
        self.assertEqual(env["NATS_USER"], "gift-cards")
        self.assertTrue(env["NATS_PASSWORD"].startswith("${NATS_GIFT_CARDS_PASSWORD:?"), env["NATS_PASSWORD"])
        self.assertNotRegex(read(self.root, ns.APP_YAML), r"\$\{[A-Z_]*GIFT_CARDS[A-Z_]*:-")
        with open(os.path.join(self.root, ns.DB_YAML)) as f:
            db_text = f.read()
        db = yaml.safe_load(db_text)
        persist = db["x-secrets"]["persist"]
        for var in ("GIFT_CARDS_DB_PASSWORD", "NATS_GIFT_CARDS_PASSWORD"):
            self.assertEqual(persist.count(var), 1, var)
        # beside the last service's, the operator's NATS password still last of the NATS ones
        with open(os.path.join(REPO, ns.DB_YAML)) as f:
            before = yaml.safe_load(f)["x-secrets"]["persist"]
        last_db = [v for v in before if v.endswith("_DB_PASSWORD")][-1]
        last_nats = [v for v in before if v.startswith("NATS_") and v != "NATS_OPERATOR_PASSWORD"][-1]
        self.assertEqual(persist[persist.index("GIFT_CARDS_DB_PASSWORD") - 1], last_db)
        self.assertEqual(persist[persist.index("NATS_GIFT_CARDS_PASSWORD") - 1], last_nats)
        self.assertEqual(persist[-1], "NATS_OPERATOR_PASSWORD")
        self.assertTrue(db["x-db-passwords"]["GIFT_CARDS_DB_PASSWORD"].startswith("${GIFT_CARDS_DB_PASSWORD:?"))
        self.assertTrue(db["x-nats-passwords"]["NATS_GIFT_CARDS_PASSWORD"].startswith("${NATS_GIFT_CARDS_PASSWORD:?"))
        self.assertEqual(db_text.count("GIFT_CARDS"), 8)   # 2 in x-secrets, 3 in each mapping line
        # every secret the service's compose entry needs is one keel-stack generates
        app_text = read(self.root, ns.APP_YAML)
        needed = set(re.findall(r"\$\{([A-Z0-9_]*GIFT_CARDS[A-Z0-9_]*):\?", app_text))
        self.assertEqual(needed, {"GIFT_CARDS_DB_PASSWORD", "NATS_GIFT_CARDS_PASSWORD"})
        self.assertLessEqual(needed, set(persist))
        # the NATS user: the same shape as the others, its own domain only
        auth = read(self.root, ns.NATS_AUTH)
        mine, theirs = nats_user(auth, "gift-cards"), nats_user(auth, "recommendations")
        self.assertIsNotNone(mine)
        self.assertEqual(mine, theirs.replace("recommendations", "gift-cards")
                         .replace("RECOMMENDATIONS", "GIFT_CARDS"))
        self.assertIn('password: $NATS_GIFT_CARDS_PASSWORD,', mine)
        self.assertIn('publish: {allow: ["gift-cards.>", ', mine)
        self.assertIn('"keel.registry.gift-cards"', mine)
        self.assertNotIn("recommendations", mine)
        self.assertLess(auth.index('{user: "recommendations"'), auth.index('{user: "gift-cards"'))
        self.assertLess(auth.index('{user: "gift-cards"'), auth.index('{user: "keel-bus"'))
        checked = nats_config_check(self.root)
        if checked is not None:
            self.assertEqual(checked[0], 0, checked[1])
            rc, out = nats_config_check(self.root, unset={"NATS_GIFT_CARDS_PASSWORD"})
            self.assertNotEqual(rc, 0)
            self.assertIn("NATS_GIFT_CARDS_PASSWORD", out)
            # the user logs in with its generated password and publishes its own domain only
            server = NatsServer(self.root)
            try:
                pw = server.passwords["NATS_GIFT_CARDS_PASSWORD"]
                a = server.session("gift-cards", pw, "PUB gift-cards.card_issued.v1 0",
                                   "PUB keel.registry.gift-cards 0", "PUB orders.order_placed.v1 0",
                                   "PUB keel.registry.orders 0", "SUB orders.> 1", "PING")
                self.assertEqual(a[:3], ["+OK", "+OK", "+OK"], a)
                self.assertIn("Permissions Violation for Publish to \"orders.order_placed.v1\"", a[3])
                self.assertIn("Permissions Violation for Publish to \"keel.registry.orders\"", a[4])
                self.assertIn("Permissions Violation for Subscription to \"orders.>\"", a[5])
                self.assertEqual(a[6], "PONG")
                wrong = server.session("gift-cards", server.passwords["NATS_RECOMMENDATIONS_PASSWORD"], "PING")
                self.assertIn("Authorization Violation", wrong[0])
            finally:
                server.stop()
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
        with open(os.path.join(self.root, ns.DB_YAML)) as f:
            db = yaml.safe_load(f)
        persist = db["x-secrets"]["persist"]
        i = persist.index("ALPHA_DB_PASSWORD")
        self.assertEqual(persist[i:i + 2], ["ALPHA_DB_PASSWORD", "BETA_2_DB_PASSWORD"])
        i = persist.index("NATS_ALPHA_PASSWORD")
        self.assertEqual(persist[i:], ["NATS_ALPHA_PASSWORD", "NATS_BETA_2_PASSWORD", "NATS_OPERATOR_PASSWORD"])
        self.assertEqual(list(db["x-db-passwords"])[-2:], ["ALPHA_DB_PASSWORD", "BETA_2_DB_PASSWORD"])
        self.assertEqual(list(db["x-nats-passwords"])[-3:],
                         ["NATS_ALPHA_PASSWORD", "NATS_BETA_2_PASSWORD", "NATS_OPERATOR_PASSWORD"])
        auth = read(self.root, ns.NATS_AUTH)
        self.assertIn('publish: {allow: ["beta-2.>", ', nats_user(auth, "beta-2"))
        checked = nats_config_check(self.root)
        if checked is not None:
            self.assertEqual(checked[0], 0, checked[1])
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

    def test_entries_already_there_are_kept_not_doubled(self):
        # a service removed by hand that left its NATS user and db.yaml entries behind
        self.assertEqual(run(self.root, "gift-cards").returncode, 0)
        wired = {rel: read(self.root, rel) for rel in (ns.DB_YAML, ns.NATS_AUTH)}
        for rel in (ns.APP_YAML, ns.GATEWAY_TEMPLATE):
            write(self.root, rel, self.before[rel].decode())
        shutil.rmtree(os.path.join(self.root, "services", "gift-cards"))
        p = run(self.root, "gift-cards")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("already has a user gift-cards; left as it is", p.stdout)
        self.assertEqual(p.stdout.count("already has"), 5, p.stdout)
        for rel, text in wired.items():
            self.assertEqual(read(self.root, rel), text, rel)
        self.assertEqual(run(self.root, "--remove", "gift-cards").returncode, 0)
        self.assert_untouched()
        # only the NATS user left behind: db.yaml gets its entries, the user stays single
        self.assertEqual(run(self.root, "gift-cards").returncode, 0)
        write(self.root, ns.DB_YAML, self.before[ns.DB_YAML].decode())
        for rel in (ns.APP_YAML, ns.GATEWAY_TEMPLATE):
            write(self.root, rel, self.before[rel].decode())
        shutil.rmtree(os.path.join(self.root, "services", "gift-cards"))
        p = run(self.root, "gift-cards")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.count("already has"), 1, p.stdout)
        for rel, text in wired.items():
            self.assertEqual(read(self.root, rel), text, rel)
        # --remove of what is partly gone (a line deleted by hand) takes away the rest
        write(self.root, ns.DB_YAML, read(self.root, ns.DB_YAML).replace("    - NATS_GIFT_CARDS_PASSWORD\n", ""))
        self.assertEqual(run(self.root, "--remove", "gift-cards").returncode, 0)
        self.assert_untouched()

    def test_files_not_in_the_expected_shape_are_refused(self):
        db = self.before[ns.DB_YAML].decode()
        auth = self.before[ns.NATS_AUTH].decode()
        cases = [
            (ns.DB_YAML, re.sub(r"\nx-nats-passwords:.*?\n\n", "\n\n", db, flags=re.S), "x-nats-passwords"),
            (ns.DB_YAML, re.sub(r"\n  persist:\n(    - .*\n)+", "\n  persist: [POSTGRES_PASSWORD]\n", db),
             "x-secrets: expected `persist:` followed by a block list"),
            (ns.DB_YAML, re.sub(r"(?m)^    - NATS_[A-Z_]+_PASSWORD\n", "", db), "x-secrets.persist has no other service's"),
            (ns.DB_YAML, re.sub(r"(?m)^  [A-Z_]+_DB_PASSWORD: .*\n", "", db), "x-db-passwords lists no service"),
            (ns.NATS_AUTH, auth.replace("authorization {", "authorisation {"), "expected `authorization {`"),
            (ns.NATS_AUTH, re.sub(r'(?m)^    \{user: "[a-z]+", password: \$NATS_(?!OPERATOR).*\n(      .*\n)*    \}\}\n', "", auth),
             "no service user to copy"),
            (ns.NATS_AUTH, auth.replace('"keel.registry.recommendations", ', ""), "not in the expected shape"),
            (ns.NATS_AUTH, auth.replace('"recommendations.>", ', '"recommendations.>", "recommendations-extra", '),
             "in a way the tool does not know"),
            (ns.NATS_AUTH, auth.replace("    }}\n", "    }\n", 1), "unbalanced braces"),
        ]
        for rel, text, why in cases:
            with self.subTest(rel=rel, why=why):
                self.assertNotEqual(text, self.before[rel].decode())
                write(self.root, rel, text)
                before = snapshot(self.root)
                p = run(self.root, "lonely")
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertIn(why, p.stderr)
                self.assertIn("nothing was changed", p.stderr)
                self.assertEqual(snapshot(self.root), before)
                write(self.root, rel, self.before[rel].decode())
        os.unlink(os.path.join(self.root, ns.NATS_AUTH))
        p = run(self.root, "lonely")
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"{ns.NATS_AUTH}: cannot read it", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.root, "services", "lonely")))

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
