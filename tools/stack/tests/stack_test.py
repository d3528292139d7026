#!/usr/bin/python3
"""Tests of keel-stack. Run: /usr/bin/python3 tools/stack/tests/stack_test.py
Unit tests (interpolation, ordering, profiles, ports, exports, nginx config) and real runs: a tiny
stack of python http.server processes (health, SIGKILL -> restart, rolling restart, down), the
nats service of db.yaml as a 3-node JetStream cluster (profile ha), and the real
deploy/compose/db.yaml + app.yaml with stand-in service binaries (PostgreSQL initdb as the postgres
user, Redis, NATS JetStream, nginx gateway with its internal server, seed, the Telegram fake)."""
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
STACK_DIR = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(STACK_DIR))
KEEL_STACK = os.path.join(STACK_DIR, "keel-stack")
sys.dont_write_bytecode = True
sys.path.insert(0, STACK_DIR)

from keel_stack import interp, model, nginx, ports  # noqa: E402
from keel_stack.supervisor import Supervisor, free_port, pid_alive  # noqa: E402

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def public_services():
    """The services the gateway routes /api/<svc>/ to: those with a location in its template
    (alert-relay and release-bot have internal routes only)."""
    with open(os.path.join(ROOT, "deploy", "nginx", "gateway.conf.template")) as f:
        conf = f.read()
    return {s for s in UPSTREAMS if f"location /api/{s}/ {{" in conf or s == "auth"}


def app_services():
    """The keel services of deploy/compose/app.yaml (those whose native command is a keel binary) and
    the gateway's upstreams, so that a service added there (tools/new-service) is tested too."""
    import yaml
    with open(os.path.join(ROOT, "deploy", "compose", "app.yaml")) as f:
        doc = yaml.safe_load(f)
    names = []
    for name, svc in doc["services"].items():
        cmd = ((svc or {}).get("x-native") or {}).get("command")
        if isinstance(cmd, list) and cmd and str(cmd[0]).endswith(f"/services/{name}/keel-{name}"):
            names.append(name)
    return tuple(names), tuple(doc["services"]["gateway"]["x-native"]["nginx"]["upstreams"])


SERVICES, UPSTREAMS = app_services()


def fixed_pools():
    """{svc: pool} of the services whose compose environment fixes PG_POOL_SIZE (alert-relay and
    release-bot need a couple of connections, not the shared default)."""
    import yaml
    with open(os.path.join(ROOT, "deploy", "compose", "app.yaml")) as f:
        doc = yaml.safe_load(f)
    out = {}
    for name in SERVICES:
        size = str((doc["services"][name].get("environment") or {}).get("PG_POOL_SIZE", ""))
        if size.isdigit():
            out[name] = int(size)
    return out


FIXED_POOLS = fixed_pools()


def db_name(svc):
    """A service's database and role: its name with '_' for '-' (gift-cards -> gift_cards)."""
    return svc.replace("-", "_")


def compose_secrets():
    """The x-secrets persist names of the default compose files."""
    import yaml
    names = []
    for f in ("db.yaml", "monitoring.yaml", "app.yaml"):
        with open(os.path.join(ROOT, "deploy", "compose", f)) as fh:
            names += (yaml.safe_load(fh).get("x-secrets") or {}).get("persist") or []
    return names


SECRETS = compose_secrets()


def read_secrets(var_dir):
    return dict(line.split("=", 1) for line in read(os.path.join(var_dir, "secrets.env")).splitlines() if "=" in line)


def operator_nats(port, var_dir):
    """A NATS connection as keel-bus (the operator user of deploy/nats/auth.conf)."""
    return Nats(port, "keel-bus", read_secrets(var_dir)["NATS_OPERATOR_PASSWORD"])


def http(url, data=None, headers=None, method=None):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with OPENER.open(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def services_from(text, env=None, profiles=()):
    raw = __import__("yaml").safe_load(text)
    keep = tuple(set(interp.RUNTIME_VARS) | model.port_names(raw))
    doc = interp.interpolate_tree(raw, env or {}, keep=keep)
    svcs = model.build_services(doc, profiles)
    return svcs, model.start_order(svcs)


def free_ports(n):
    """A base port p with p..p+n-1 all free on 127.0.0.1."""
    while True:
        base = free_port()
        if base + n >= 65536:
            continue
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()


class Nats:
    """Just enough of the NATS client protocol for JetStream API requests and publishes."""

    def __init__(self, port, user=None, password=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.sock.makefile("rb")
        info = self.f.readline()
        assert info.startswith(b"INFO "), info
        self.info = json.loads(info[5:])
        connect = {"verbose": False, "pedantic": False, "headers": False}
        if user:
            connect.update({"user": user, "pass": password})
        self.sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        self.sid = 0
        while True:
            line = self.f.readline()
            if line.startswith(b"PONG"):
                break
            if line.startswith(b"-ERR"):
                self.close()
                raise PermissionError(line.decode().strip())

    def publish_error(self, subject, payload=b"x"):
        """PUB then PING: the server's -ERR for the publish (None when it was accepted)."""
        return self.error_of(f"PUB {subject} {len(payload)}\r\n".encode() + payload + b"\r\n")

    def subscribe_error(self, subject):
        self.sid += 1
        return self.error_of(f"SUB {subject} {self.sid}\r\nUNSUB {self.sid}\r\n".encode())

    def error_of(self, ops):
        self.sock.sendall(ops + b"PING\r\n")
        err = None
        while True:
            line = self.f.readline()
            if line.startswith(b"PONG"):
                return err
            if line.startswith(b"-ERR"):
                err = line.decode().strip()

    def request(self, subject, payload):
        """PUB with a reply inbox; returns the decoded JSON answer."""
        self.sid += 1
        inbox = f"_INBOX.keeltest.{self.sid}"
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.sock.sendall(f"SUB {inbox} {self.sid}\r\nUNSUB {self.sid} 1\r\nPUB {subject} {inbox} {len(data)}\r\n"
                          .encode() + data + b"\r\n")
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError("NATS closed the connection")
            if line.startswith(b"PING"):
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise AssertionError(line)
            elif line.startswith(b"MSG "):
                parts = line.split()
                body = self.f.read(int(parts[-1]) + 2)[:-2]
                if parts[2] == str(self.sid).encode():   # not a late answer to a timed-out request
                    return json.loads(body)

    def js(self, api, payload=b"", tries=50):
        """A JetStream API call, retried while the cluster is still settling (503)."""
        for _ in range(tries):
            r = self.request(f"$JS.API.{api}", payload)
            if r.get("error", {}).get("code") != 503:
                return r
            time.sleep(0.1)
        return r

    def close(self):
        self.f.close()
        self.sock.close()


class InterpolationTest(unittest.TestCase):
    env = {"A": "1", "EMPTY": "", "NAME": "keel"}

    def i(self, s):
        return interp.interpolate(s, self.env)

    def test_forms(self):
        self.assertEqual(self.i("x${A}y$A"), "x1y1")
        self.assertEqual(self.i("${MISSING:-d}|${EMPTY:-d}|${EMPTY-d}|${MISSING-d}"), "d|d||d")
        self.assertEqual(self.i("${A:+set}|${MISSING:+set}"), "set|")
        self.assertEqual(self.i("$$A ${MISSING:-${NAME}-db}"), "$A keel-db")
        self.assertEqual(self.i("costs 5$"), "costs 5$")

    def test_runtime_vars_are_kept(self):
        env = dict(self.env, PORT="999")
        self.assertEqual(interp.interpolate("http://127.0.0.1:${PORT}/${INSTANCE_ID}", env),
                         "http://127.0.0.1:${PORT}/${INSTANCE_ID}")
        self.assertEqual(interp.expand_runtime(["${PORT}", "a${REPLICA}"], {"PORT": "5", "REPLICA": "2"}),
                         ["5", "a2"])

    def test_missing_is_an_error_naming_it(self):
        with self.assertRaises(interp.InterpolationError) as cm:
            interp.interpolate_tree({"services": {"a": {"environment": {"X": "${NOPE}"}}}}, {})
        self.assertIn("NOPE", str(cm.exception))
        self.assertIn("services.a.environment.X", str(cm.exception))
        with self.assertRaises(interp.InterpolationError) as cm:
            interp.interpolate("${NOPE:?give it}", {})
        self.assertIn("give it", str(cm.exception))

    def test_cli_missing_var_exits_2(self):
        with tempfile.TemporaryDirectory() as d:
            f = os.path.join(d, "c.yaml")
            with open(f, "w") as fh:
                fh.write("services:\n  a:\n    x-native: {command: [\"${KEEL_TEST_UNSET_VAR}\"]}\n")
            env = {k: v for k, v in os.environ.items() if k != "KEEL_TEST_UNSET_VAR"}
            r = subprocess.run([KEEL_STACK, "-f", f, "--var-dir", d, "up"], env=env,
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("KEEL_TEST_UNSET_VAR", r.stderr)

    def test_env_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".env", delete=False) as f:
            f.write("# c\nA=1\nexport B='two words'\nC=\"x=y\"\n")
        try:
            self.assertEqual(interp.parse_env_file(f.name), {"A": "1", "B": "two words", "C": "x=y"})
        finally:
            os.unlink(f.name)


class ModelTest(unittest.TestCase):
    def test_depends_on_order(self):
        svcs, order = services_from("""
services:
  app: {depends_on: {db: {condition: service_healthy}, cache: {condition: service_started}}, x-native: {command: [a]}}
  gw: {depends_on: [app], x-native: {command: [g]}}
  cache: {x-native: {command: [c]}}
  db: {x-native: {command: [d]}}
  docker_only: {image: x}
""")
        self.assertNotIn("docker_only", svcs)
        self.assertLess(order.index("db"), order.index("app"))
        self.assertLess(order.index("cache"), order.index("app"))
        self.assertLess(order.index("app"), order.index("gw"))
        self.assertEqual(svcs["app"].depends_on, {"db": "service_healthy", "cache": "service_started"})
        self.assertEqual(svcs["gw"].depends_on, {"app": "service_started"})

    def test_cycle_and_unknown(self):
        with self.assertRaisesRegex(model.ConfigError, "cycle"):
            services_from("services:\n  a: {depends_on: [b], x-native: {command: [a]}}\n"
                          "  b: {depends_on: [a], x-native: {command: [b]}}\n")
        with self.assertRaisesRegex(model.ConfigError, "unknown service"):
            services_from("services:\n  a: {depends_on: [zz], x-native: {command: [a]}}\n")

    def test_durations(self):
        self.assertEqual(model.parse_duration("1m30s", 0), 90)
        self.assertEqual(model.parse_duration("500ms", 0), 0.5)
        self.assertEqual(model.parse_duration(None, 10), 10)

    def test_replica_ports_and_env(self):
        svcs, order = services_from("""
services:
  api:
    deploy: {replicas: 3}
    environment: {GREETING: hi, ME: "${INSTANCE_ID}"}
    x-native: {command: [x], healthcheck: {http: "http://127.0.0.1:${PORT}/readyz"}}
  db: {x-native: {command: [y], port: 5999}}
""")
        with tempfile.TemporaryDirectory() as d:
            sup = Supervisor(svcs, order, ROOT, d, {"PATH": "/usr/bin"}, echo=False)
            sup.plan()
            reps = sup.replicas["api"]
            ports = [r.port for r in reps]
            self.assertEqual(len(set(ports)), 3)
            self.assertEqual(sup.replicas["db"][0].port, 5999)
            env = reps[1].env()
            self.assertEqual((env["PORT"], env["INSTANCE_ID"], env["REPLICA"], env["ME"], env["GREETING"]),
                             (str(ports[1]), "api-2", "2", "api-2", "hi"))
            self.assertEqual([r.label for r in reps], ["api#1", "api#2", "api#3"])
            self.assertTrue(reps[2].log_path.endswith("log/api-3.log"))

    def test_default_files_parse(self):
        env = {k: v for k, v in os.environ.items() if k not in
               ("COMPOSE_PROFILES", "TELEGRAM_API_BASE", "NATS_NODES", "BUS_REPLICAS", "NATS_URL")}
        env.update({k: f"s-{k}" for k in SECRETS})
        for k in ("PG_POOL_SIZE", "PG_MAX_CONNECTIONS", "PG_RESERVED_CONNECTIONS"):
            env.pop(k, None)

        def config(*args, **extra):
            r = subprocess.run([KEEL_STACK, "--var-dir", tempfile.gettempdir(), *args],
                               env=dict(env, **extra), capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 0, r.stderr)
            body, _, trailer = r.stdout.partition("\n# profiles: ")
            return __import__("yaml").safe_load(body), "# profiles: " + trailer
        doc, trailer = config("config")
        self.assertIn("# profiles: native\n", trailer)
        self.assertIn("start order: postgres -> redis -> nats -> victoria-metrics -> alertmanager -> vmalert -> "
                      "node-exporter -> postgres-exporter -> redis-exporter -> auth -> gateway -> nginx-exporter -> "
                      "nats-exporter -> catalog -> account -> orders -> payments -> fiscal -> telegram-fake -> "
                      "notifications -> recommendations -> alert-relay -> release-bot",
                      trailer)
        self.assertEqual(doc["services"]["nats"]["x-native"]["replicas"], "1")
        for svc in ("auth", "catalog", "account", "orders", "payments", "fiscal", "notifications",
                    "recommendations"):
            sv = doc["services"][svc]
            self.assertEqual(sv["environment"]["BUS_REPLICAS"], "1", svc)
            self.assertEqual(sv["environment"]["NATS_URL"], "nats://nats:4222", svc)
            self.assertIn("NATS_URL", sv["x-native"]["environment"], svc)   # null: keel-stack's export
            self.assertIsNone(sv["x-native"]["environment"]["NATS_URL"], svc)
            self.assertEqual(sv["depends_on"]["nats"], {"condition": "service_healthy"}, svc)
            self.assertEqual(sv["deploy"]["replicas"], 2)
            self.assertEqual(sv["x-native"]["command"], [f"build/release/services/{svc}/keel-{svc}"])
            up = svc.upper()
            self.assertIn(f"dbname={svc} user={svc} password=s-{up}_DB_PASSWORD", sv["x-native"]["environment"]["PG_DSN"])
            self.assertIn(f"password=s-{up}_DB_PASSWORD", sv["environment"]["PG_DSN"])
            self.assertEqual((sv["environment"]["NATS_USER"], sv["environment"]["NATS_PASSWORD"]),
                             (svc, f"s-NATS_{up}_PASSWORD"))
            self.assertEqual(sv["environment"]["REDIS_PASSWORD"], "s-REDIS_PASSWORD")
            self.assertEqual(sv["environment"]["PG_POOL_SIZE"], "8")
            self.assertEqual("AUTH_KEY_ENCRYPTION_KEY" in sv["environment"], svc == "auth")
            self.assertEqual("TELEGRAM_BOT_TOKEN" in sv["environment"], svc == "notifications")
            self.assertIn(svc, doc["services"]["gateway"]["depends_on"])
            self.assertIn(svc, doc["services"]["gateway"]["x-native"]["nginx"]["upstreams"])
            self.assertIn(f"upstream {svc} {{", doc["services"]["gateway"]["environment"]["UPSTREAMS"])
            # postgres makes a role + database for each <SVC>_DB_PASSWORD it is given
            step = doc["services"]["postgres"]["x-native"]["post_start"][0]
            self.assertEqual(step["environment"][f"{up}_DB_PASSWORD"], f"s-{up}_DB_PASSWORD")
            self.assertTrue(step["always"])
            self.assertEqual(doc["services"]["postgres-init"]["environment"][f"{up}_DB_PASSWORD"], f"s-{up}_DB_PASSWORD")
            self.assertEqual(doc["services"]["nats"]["environment"][f"NATS_{up}_PASSWORD"], f"s-NATS_{up}_PASSWORD")
            self.assertNotIn(f"{up}_DB_PASSWORD", doc["services"]["postgres"]["environment"])
        # no secret on any command line: passwords are in environments and config files only
        for name, sv in doc["services"].items():
            xn = sv.get("x-native") or {}
            steps = [st.get("cmd") if isinstance(st, dict) else st for st in (xn.get("init") or []) + (xn.get("post_start") or [])]
            for cmd in [sv.get("command"), xn.get("command"), (sv.get("healthcheck") or {}).get("test")] + steps:
                for k in SECRETS:
                    self.assertNotIn(f"s-{k}", json.dumps(cmd), (name, cmd))
        orders = doc["services"]["orders"]
        self.assertEqual(orders["environment"]["CATALOG_URL"], "http://catalog:8080")
        self.assertEqual(orders["x-native"]["environment"]["CATALOG_URL"], "http://127.0.0.1:8081/catalog")
        self.assertEqual(doc["services"]["notifications"]["environment"]["TELEGRAM_API_BASE"], "https://api.telegram.org")

        # profile ha: 3 nats nodes, BUS_REPLICAS=3 (--profile, COMPOSE_PROFILES, after the subcommand)
        for args, extra in ((["--profile", "ha", "config"], {}), (["config", "--profile", "ha"], {}),
                            (["config"], {"COMPOSE_PROFILES": "ha"})):
            doc, trailer = config(*args, **extra)
            self.assertIn("# profiles: ha,native\n", trailer)
            self.assertEqual(doc["services"]["nats"]["x-native"]["replicas"], "3")
            self.assertEqual(doc["services"]["orders"]["environment"]["BUS_REPLICAS"], "3")
        doc, _ = config("config", "--profile", "ha", BUS_REPLICAS="2")   # the environment wins
        self.assertEqual(doc["services"]["orders"]["environment"]["BUS_REPLICAS"], "2")
        self.assertEqual(doc["services"]["nats"]["x-native"]["replicas"], "3")
        # with TELEGRAM_API_BASE set, no fake
        doc, trailer = config("config", TELEGRAM_API_BASE="https://api.telegram.org")
        self.assertNotIn("telegram-fake", trailer)

    def test_pg_connection_budget(self):
        """The services' pools must fit under PostgreSQL's max_connections: up and config refuse
        (exit 2) a stack that cannot, naming the numbers and the variables; nothing starts."""
        env = {k: v for k, v in os.environ.items() if k not in ("COMPOSE_PROFILES", "TELEGRAM_API_BASE", "PG_POOL_SIZE",
                                                               "PG_MAX_CONNECTIONS", "PG_RESERVED_CONNECTIONS")}
        env.update({k: f"s-{k}" for k in SECRETS})
        with tempfile.TemporaryDirectory() as d:
            def run(*args, **extra):
                return subprocess.run([KEEL_STACK, "--var-dir", d, *args], env=dict(env, **extra),
                                      capture_output=True, text=True, timeout=20)
            self.assertEqual(run("config").returncode, 0)
            n = len(SERVICES) - len(FIXED_POOLS)
            fixed = sum(2 * size for size in FIXED_POOLS.values())
            r = run("up", "-d", PG_POOL_SIZE="16")
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn(f"need {n * 2 * 16 + fixed} (", r.stderr)
            self.assertIn(f"+ 10 reserved for operators (PG_RESERVED_CONNECTIONS) = {n * 32 + fixed + 10} > max_connections 200 "
                          "(PG_MAX_CONNECTIONS). Lower PG_POOL_SIZE (now 16 per replica", r.stderr)
            self.assertIn("orders 2x16", r.stderr)
            self.assertIn("nothing was started", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "stack.json")))
            self.assertEqual(run("config", PG_POOL_SIZE="16").returncode, 2)
            self.assertEqual(run("config", PG_POOL_SIZE="16", PG_MAX_CONNECTIONS=str(n * 32 + fixed + 10)).returncode, 0)
            self.assertEqual(run("config", PG_MAX_CONNECTIONS=str(n * 16 + 9)).returncode, 2)   # 8 each + 10

    def test_scale(self):
        """up/config --scale SVC=N: overrides deploy.replicas (and x-native.replicas), repeatable
        (the last wins), counted by the PostgreSQL budget; bad values and unknown services exit 2."""
        self.assertEqual(model.parse_scale(["a=3", "b=1", "a=2"]), {"a": 2, "b": 1})
        for bad in ("a", "=2", "a=x", "a=0", "a=-1"):
            with self.assertRaises(model.ConfigError):
                model.parse_scale([bad])
        text = """
services:
  web: {deploy: {replicas: 2}, x-native: {command: [a]}}
  nats: {x-native: {command: [a], replicas: "1"}}
  docker: {image: x}
"""
        raw = __import__("yaml").safe_load(text)
        model.apply_scale(raw, {"web": 5, "nats": 3})
        svcs = model.build_services(raw)
        self.assertEqual((svcs["web"].replicas, svcs["nats"].replicas), (5, 3))
        self.assertEqual(svcs["web"].label(5), "web#5")
        with self.assertRaises(model.ConfigError):
            model.apply_scale(raw, {"nope": 2})
        with self.assertRaises(model.ConfigError):
            model.check_scaled(svcs, {"docker": 2})
        env = {k: v for k, v in os.environ.items() if k not in ("COMPOSE_PROFILES", "TELEGRAM_API_BASE", "PG_POOL_SIZE",
                                                               "PG_MAX_CONNECTIONS", "PG_RESERVED_CONNECTIONS")}
        env.update({k: f"s-{k}" for k in SECRETS})
        with tempfile.TemporaryDirectory() as d:
            def run(*args, **extra):
                return subprocess.run([KEEL_STACK, "--var-dir", d, *args], env=dict(env, **extra),
                                      capture_output=True, text=True, timeout=20)
            r = run("config", "--scale", "orders=8", "--scale", "catalog=1")
            self.assertEqual(r.returncode, 0, r.stderr)
            doc = __import__("yaml").safe_load(r.stdout.partition("\n# profiles: ")[0])
            self.assertEqual(doc["services"]["orders"]["deploy"]["replicas"], 8)
            self.assertEqual(doc["services"]["catalog"]["deploy"]["replicas"], 1)
            # 8 + 8 replicas of 8 connections on top of the other 6 services' 2 x 8: 234 > 200
            n = len(SERVICES) - len(FIXED_POOLS)
            fixed = sum(2 * size for size in FIXED_POOLS.values())
            r = run("up", "-d", "--scale", "orders=8", "--scale", "recommendations=8")
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn(f"need {(n - 2) * 16 + 128 + fixed} (", r.stderr)
            self.assertIn("orders 8x8", r.stderr)
            self.assertIn("recommendations 8x8", r.stderr)
            self.assertIn("up --scale", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "stack.json")))
            need = (n - 2) * 16 + 128 + fixed + 10
            self.assertEqual(run("config", "--scale", "orders=8", "--scale", "recommendations=8",
                                 PG_MAX_CONNECTIONS=str(need)).returncode, 0)
            for bad in ("orders=0", "orders", "nosuch=2"):
                r = run("config", "--scale", bad)
                self.assertEqual(r.returncode, 2, bad)
                self.assertIn("--scale", r.stderr)

    def test_profiles(self):
        text = """
services:
  always: {x-native: {command: [a]}}
  extra: {profiles: [ha, debug], x-native: {command: [b]}}
  native_only: {profiles: [native], x-native: {command: [c]}}
  docker_only: {profiles: [ha], image: x}
  needs_extra:
    depends_on: {extra: {condition: service_healthy, required: false}, always: {condition: service_started}}
    x-native: {command: [d]}
"""
        svcs, order = services_from(text)
        self.assertEqual(sorted(svcs), ["always", "native_only", "needs_extra"])
        self.assertEqual(svcs["needs_extra"].depends_on, {"always": "service_started"})
        svcs, order = services_from(text, profiles=["debug"])
        self.assertEqual(sorted(svcs), ["always", "extra", "native_only", "needs_extra"])
        self.assertEqual(svcs["needs_extra"].depends_on, {"extra": "service_healthy", "always": "service_started"})
        self.assertLess(order.index("extra"), order.index("needs_extra"))
        svcs, _ = services_from(text, profiles=["*"])
        self.assertIn("extra", svcs)
        with self.assertRaisesRegex(model.ConfigError, r"unknown service extra \(its profiles \['ha'\] are not active; add required: false"):
            services_from("services:\n  extra: {profiles: [ha], x-native: {command: [b]}}\n"
                          "  a: {depends_on: [extra], x-native: {command: [a]}}\n")
        # x-native enabled: false, also as an interpolated string ("" = enabled)
        t = "services:\n  a: {x-native: {enabled: \"${OFF:+false}\", command: [a]}}\n"
        self.assertEqual(list(services_from(t)[0]), ["a"])
        self.assertEqual(list(services_from(t, {"OFF": "1"})[0]), [])

    def test_extra_ports_and_exports(self):
        svcs, order = services_from("""
services:
  bus:
    deploy: {replicas: 3}
    x-native:
      command: [x, "--monitor=${MON}", "--peer=${PEER}"]
      port: 17000
      ports: {MON: 18000, PEER: auto}
      healthcheck: {http: "http://127.0.0.1:${MON}/healthz"}
      exports: {BUS_URL: "bus://127.0.0.1:${PORT}", BUS_NAME: "the-bus"}
      urls: ["bus://127.0.0.1:${PORT}", "http://127.0.0.1:${MON}/"]
  app:
    environment: {BUS_URL: "docker-value"}
    x-native: {command: [y], environment: {BUS_URL: null}}
""")
        with tempfile.TemporaryDirectory() as d:
            sup = Supervisor(svcs, order, ROOT, d, {"PATH": "/usr/bin", "BUS_URL": "from-env"}, echo=False)
            sup.plan()
            reps = sup.replicas["bus"]
            self.assertEqual([r.port for r in reps], [17000, 17001, 17002])
            self.assertEqual([r.ports["MON"] for r in reps], [18000, 18001, 18002])
            peers = [r.ports["PEER"] for r in reps]
            self.assertEqual(len(set(peers) | {17000, 17001, 17002, 18000, 18001, 18002}), 9)
            self.assertEqual(reps[1].command(), ["x", "--monitor=18001", f"--peer={peers[1]}"])
            self.assertEqual(reps[2].runtime()["MON"], "18002")
            url = "bus://127.0.0.1:17000,bus://127.0.0.1:17001,bus://127.0.0.1:17002"
            self.assertEqual(sup.exports, {"BUS_URL": url, "BUS_NAME": "the-bus"})
            env = sup.replicas["app"][0].env()
            self.assertEqual((env["BUS_URL"], env["BUS_NAME"]), (url, "the-bus"))   # exports win over the env
            self.assertIn(f"{url}  http://127.0.0.1:18000/,http://127.0.0.1:18001/,http://127.0.0.1:18002/",
                          sup.urls()[0])
        with self.assertRaisesRegex(model.ConfigError, "exported by"):
            services_from("services:\n  a: {x-native: {command: [a], exports: {X: 1}}}\n"
                          "  b: {x-native: {command: [b], exports: {X: 2}}}\n")


class NginxTest(unittest.TestCase):
    def test_upstreams_block(self):
        b = nginx.upstreams_block({"auth": [1001, 1002], "catalog": [2001]})
        self.assertIn("upstream auth {", b)
        self.assertIn("server 127.0.0.1:1001 max_fails=1 fail_timeout=2s;", b)
        self.assertIn("server 127.0.0.1:1002 max_fails=1 fail_timeout=2s;", b)
        self.assertIn("upstream catalog {", b)
        self.assertEqual(b.count("keepalive 64;"), 2)

    def test_render_keeps_nginx_vars(self):
        out = nginx.render("listen ${GATEWAY_PORT}; set $x $request_id; ${UNKNOWN}", {"GATEWAY_PORT": 1})
        self.assertEqual(out, "listen 1; set $x $request_id; ${UNKNOWN}")

    SERVICES = UPSTREAMS

    def test_rendered_gateway_config_is_valid(self):
        svcs, order = services_from("services:\n" + "".join(
            f"  {s}: {{deploy: {{replicas: 2}}, x-native: {{command: [a]}}}}\n" for s in self.SERVICES) + f"""
  gateway:
    x-native:
      port: 18080
      ports: {{TLS_PORT: 18443}}
      environment: {{TLS_CERT: "${{KEEL_VAR_DIR}}/tls/server.crt", TLS_KEY: "${{KEEL_VAR_DIR}}/tls/server.key"}}
      nginx: {{template: deploy/nginx/gateway.conf.template, upstreams: [{", ".join(self.SERVICES)}]}}
""", env={"KEEL_VAR_DIR": "/tmp/keel-stack-nginx-test"})
        tls = "/tmp/keel-stack-nginx-test/tls"
        self.addCleanup(shutil.rmtree, os.path.dirname(tls), True)
        subprocess.run(["/bin/sh", os.path.join(ROOT, "deploy/nginx/make-tls"), tls], check=True, capture_output=True)
        self.assertEqual(os.stat(os.path.join(tls, "ca.key")).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(tls).st_mode & 0o777, 0o700)
        with tempfile.TemporaryDirectory() as d:
            env = {k: v for k, v in os.environ.items() if k != "INTERNAL_GATEWAY_PORT"}
            sup = Supervisor(svcs, order, ROOT, d, env, echo=False)
            sup.plan()
            conf = read(os.path.join(d, "nginx", "nginx.conf"))
            for s in self.SERVICES:
                for r in sup.replicas[s]:
                    self.assertIn(f"server 127.0.0.1:{r.port} max_fails=1", conf)
                self.assertIn(f"location /{s}/ {{\n            proxy_pass http://{s}/;", conf)   # internal
                if s != "auth" and s in public_services():
                    self.assertIn(f"location /api/{s}/ {{\n            proxy_pass http://{s};", conf)
                elif s != "auth":
                    self.assertNotIn(f"location /api/{s}/", conf)
            self.assertIn("location = /api/orders {", conf)
            self.assertIn("listen 127.0.0.1:18080", conf)
            self.assertIn("listen 127.0.0.1:18443 ssl", conf)
            self.assertIn(f"ssl_certificate     {tls}/server.crt;", conf)
            self.assertIn("listen 127.0.0.1:8081 ", conf)   # the internal server; default port
            self.assertIn(f"pid {d}/nginx/nginx.pid;", conf)
            self.assertNotIn("${", conf)
            self.assertIn("non_idempotent", read(os.path.join(ROOT, "deploy/nginx/gateway.conf.template"))
                          .split("proxy_next_upstream error", 1)[0] + "non_idempotent")
            self.assertNotIn("http_504 non_idempotent", conf)
            cmd = sup.commands["gateway"]
            r = subprocess.run(cmd[:5] + ["-t"], capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 0, r.stderr)
        scaled = "services:\n" + "".join(f"  {s}: {{deploy: {{replicas: 2}}, x-native: {{command: [a]}}}}\n"
                                         for s in self.SERVICES) + """
  gateway:
    x-native:
      nginx: {template: deploy/nginx/gateway.conf.template, upstreams: [%s]}
""" % ", ".join(self.SERVICES)
        raw = __import__("yaml").safe_load(scaled)
        model.apply_scale(raw, {"catalog": 4, "orders": 1})
        ssvcs = model.build_services(raw)
        with tempfile.TemporaryDirectory() as d:   # the upstreams follow --scale
            sup = Supervisor(ssvcs, model.start_order(ssvcs), ROOT, d, dict(env, KEEL_VAR_DIR=os.path.dirname(tls)),
                             echo=False)
            sup.plan()
            conf = read(os.path.join(d, "nginx", "nginx.conf"))
            for name, n in (("catalog", 4), ("orders", 1), ("auth", 2)):
                block = conf.split(f"upstream {name} {{", 1)[1].split("}", 1)[0]
                self.assertEqual(block.count("server 127.0.0.1:"), n, block)
                for r in sup.replicas[name]:
                    self.assertIn(f"server 127.0.0.1:{r.port} ", block)
        with tempfile.TemporaryDirectory() as d:   # INTERNAL_GATEWAY_PORT from the environment
            sup = Supervisor(svcs, order, ROOT, d, dict(env, INTERNAL_GATEWAY_PORT="18081"), echo=False)
            sup.plan()
            conf = read(os.path.join(d, "nginx", "nginx.conf"))
            self.assertIn("listen 127.0.0.1:18081 ", conf)
            r = subprocess.run(sup.commands["gateway"][:5] + ["-t"], capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 0, r.stderr)


class Stack:
    """Drives the keel-stack CLI against a temp var dir."""

    def __init__(self, files, var_dir, env=None):
        self.files, self.var_dir = files, var_dir
        self.env = dict(os.environ, **(env or {}))

    def argv(self, *args):
        out = [KEEL_STACK]
        for f in self.files:
            out += ["-f", f]
        return out + ["--var-dir", self.var_dir] + list(args)

    def run(self, *args, timeout=60):
        return subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout)

    def state(self):
        r = self.run("ps", "--json")
        return json.loads(r.stdout)

    def replica(self, svc, n):
        return self.state()["services"][svc]["replicas"][n - 1]

    def wait(self, pred, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if pred():
                    return True
            except (KeyError, ValueError, TypeError):
                pass
            time.sleep(0.1)
        return False


TINY = """
services:
  web:
    deploy: {replicas: 2}
    restart: unless-stopped
    stop_grace_period: 3s
    environment: {GREETING: "${GREETING:-none}"}
    x-native:
      command: [/usr/bin/python3, -m, http.server, "${PORT}", --bind, 127.0.0.1, --directory, "%(www)s"]
      healthcheck: {http: "http://127.0.0.1:${PORT}/"}
  once:
    depends_on: {web: {condition: service_healthy}}
    x-native:
      command: "echo greeting=$$GREETING instance=$$INSTANCE_ID; exec sleep 300"
      environment: {GREETING: "${GREETING}"}
      init: ["echo init-ran >> %(www)s/init.txt"]
      post_start: ["echo post-ran >> %(www)s/post.txt"]
"""


class TinyStackTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="keel-stack-test-")
        self.www = os.path.join(self.dir, "www")
        os.makedirs(self.www)
        with open(os.path.join(self.www, "index.html"), "w") as f:
            f.write("hello\n")
        self.file = os.path.join(self.dir, "tiny.yaml")
        with open(self.file, "w") as f:
            f.write(TINY % {"www": self.www})
        envf = os.path.join(self.dir, "test.env")
        with open(envf, "w") as f:
            f.write("GREETING=from-env-file\n")
        self.stack = Stack([self.file], os.path.join(self.dir, "var"))
        self.stack.files_args = ["--env-file", envf]
        self.envf = envf

    def tearDown(self):
        self.stack.run("down")
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_detached_kill_restart_down(self):
        s = self.stack
        t0 = time.time()
        r = subprocess.run(s.argv("--env-file", self.envf, "up", "-d"), env=s.env, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertLess(time.time() - t0, 10)
        self.assertIn("everything is healthy", r.stdout)
        st = s.state()
        web = st["services"]["web"]["replicas"]
        self.assertEqual([x["health"] for x in web], ["healthy", "healthy"])
        ports = [x["port"] for x in web]
        for p in ports:
            self.assertEqual(http(f"http://127.0.0.1:{p}/index.html")[0], 200)
        self.assertIn("greeting=from-env-file instance=once-1", read(os.path.join(s.var_dir, "log", "once.log")))
        self.assertTrue(os.path.exists(os.path.join(s.var_dir, "log", "web-2.log")))
        ps = s.run("ps")
        self.assertIn("web#1", ps.stdout)
        self.assertIn("healthy", ps.stdout)

        # SIGKILL one replica: restarted (unless-stopped), same port, healthy again
        old = web[0]["pid"]
        r = s.run("kill", "web#1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(s.wait(lambda: (s.replica("web", 1)["pid"] not in (None, old)
                                        and s.replica("web", 1)["health"] == "healthy")),
                        s.run("ps").stdout)
        rep = s.replica("web", 1)
        self.assertEqual(rep["port"], ports[0])
        self.assertEqual(rep["restarts"], 1)
        self.assertFalse(pid_alive(old))
        self.assertEqual(s.replica("web", 2)["pid"], web[1]["pid"])  # the other one untouched

        # rolling restart: new pids, same ports
        before = [x["pid"] for x in s.state()["services"]["web"]["replicas"]]
        r = s.run("restart", "web")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        after = s.state()["services"]["web"]["replicas"]
        self.assertTrue(all(a["pid"] != b for a, b in zip(after, before)))
        self.assertEqual([a["port"] for a in after], ports)

        # stop keeps both replicas down (no restart policy), start brings them back
        r = s.run("stop", "web")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        stopped = s.state()["services"]["web"]["replicas"]
        self.assertEqual([x["state"] for x in stopped], ["stopped", "stopped"])
        self.assertTrue(all(not pid_alive(p) for p in [a["pid"] for a in after]))
        time.sleep(1.0)
        self.assertEqual([x["state"] for x in s.state()["services"]["web"]["replicas"]], ["stopped", "stopped"])
        r = s.run("start", "web")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual([x["health"] for x in s.state()["services"]["web"]["replicas"]], ["healthy", "healthy"])
        self.assertEqual(http(f"http://127.0.0.1:{ports[0]}/index.html")[0], 200)

        r = s.run("logs", "once")
        self.assertIn("greeting=from-env-file", r.stdout)

        # a second up while running is refused
        r = s.run("--env-file", self.envf, "up", "-d")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("already running", r.stderr)

        pids = [x["pid"] for sv in s.state()["services"].values() for x in sv["replicas"]]
        sup_pid = s.state()["supervisor_pid"]
        r = s.run("down")
        self.assertEqual(r.returncode, 0, r.stderr)
        for p in pids + [sup_pid]:
            self.assertFalse(pid_alive(p), p)
        self.assertEqual(s.run("ps").returncode, 1)

        # a second up reuses var/: init and post_start markers keep them from running again
        r = s.run("--env-file", self.envf, "up", "-d")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        s.run("down")
        self.assertEqual(read(os.path.join(self.www, "init.txt")), "init-ran\n")
        self.assertEqual(read(os.path.join(self.www, "post.txt")), "post-ran\n")

    def test_scale(self):
        """up --scale web=3: three replicas, each in ps, its own log and port; kill web#3 restarts
        only it; stop/start take all three; the next up without --scale has the compose count."""
        s = self.stack
        r = subprocess.run(s.argv("--env-file", self.envf, "up", "-d", "--scale", "web=3", "--scale", "once=1"),
                           env=s.env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        web = s.state()["services"]["web"]["replicas"]
        self.assertEqual([x["label"] for x in web], ["web#1", "web#2", "web#3"])
        self.assertEqual([x["health"] for x in web], ["healthy"] * 3)
        self.assertEqual(len({x["port"] for x in web}), 3)
        for x in web:
            self.assertEqual(http(f"http://127.0.0.1:{x['port']}/index.html")[0], 200)
        self.assertTrue(os.path.exists(os.path.join(s.var_dir, "log", "web-3.log")))
        self.assertIn("web#3", s.run("ps").stdout)
        old = web[2]["pid"]
        r = s.run("kill", "web#3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(s.wait(lambda: (s.replica("web", 3)["pid"] not in (None, old)
                                        and s.replica("web", 3)["health"] == "healthy")), s.run("ps").stdout)
        self.assertEqual([s.replica("web", n)["pid"] for n in (1, 2)], [web[0]["pid"], web[1]["pid"]])
        self.assertEqual(s.replica("web", 3)["port"], web[2]["port"])
        self.assertEqual(s.run("stop", "web").returncode, 0)
        self.assertEqual([x["state"] for x in s.state()["services"]["web"]["replicas"]], ["stopped"] * 3)
        self.assertEqual(s.run("start", "web").returncode, 0)
        self.assertEqual([x["health"] for x in s.state()["services"]["web"]["replicas"]], ["healthy"] * 3)
        self.assertEqual(s.run("down").returncode, 0)
        r = s.run("--env-file", self.envf, "up", "-d")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(s.state()["services"]["web"]["replicas"]), 2)

    def test_closed_stdout(self):
        """keel-stack ps | head: a reader that goes away ends the output quietly (no traceback);
        down still stops everything."""
        s = self.stack
        r = s.run("--env-file", self.envf, "up", "-d")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        sup_pid = s.state()["supervisor_pid"]

        def closed_pipe(*args):
            rd, wr = os.pipe()
            os.close(rd)   # nobody reads: the first write fails with EPIPE
            try:
                return subprocess.run(s.argv(*args), env=s.env, stdout=wr, stderr=subprocess.PIPE,
                                      text=True, timeout=30)
            finally:
                os.close(wr)
        for args in (("ps",), ("ps", "--json"), ("logs",), ("logs", "web"), ("--env-file", self.envf, "config")):
            p = closed_pipe(*args)
            self.assertEqual(p.stderr, "", args)
            self.assertIn(p.returncode, (-signal.SIGPIPE, 128 + signal.SIGPIPE), (args, p.stderr))
        # through a real pipe into head, as a user types it
        p = subprocess.run(" ".join(s.argv("--env-file", self.envf, "config")) + " | head -1", shell=True, env=s.env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual((p.returncode, p.stderr, len(p.stdout.splitlines())), (0, "", 1))
        # a command that does work finishes it and exits 0
        p = closed_pipe("down")
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        self.assertFalse(pid_alive(sup_pid))
        self.assertEqual(s.run("ps").returncode, 1)

    def test_daemon_keeps_no_inherited_fds(self):
        """`flock LOCK keel-stack up -d`: the detached supervisor must not keep the caller's lock
        (nor any other descriptor it inherited) until `down`."""
        s = self.stack
        lock = os.path.join(self.dir, "build.lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            r = subprocess.run(s.argv("--env-file", self.envf, "up", "-d"), env=s.env, capture_output=True,
                               text=True, timeout=60, pass_fds=(fd,))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            os.close(fd)
        sup_pid = s.state()["supervisor_pid"]
        held = [n for n in os.listdir(f"/proc/{sup_pid}/fd")
                if os.path.realpath(f"/proc/{sup_pid}/fd/{n}") == os.path.realpath(lock)]
        self.assertEqual(held, [])
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # free while the stack runs
        finally:
            os.close(fd)
        self.assertEqual(s.run("ps").returncode, 0)   # its own stack.lock and socket still work
        self.assertIn("already running", s.run("--env-file", self.envf, "up", "-d").stderr)

    def test_foreground_sigterm(self):
        s = self.stack
        p = subprocess.Popen(s.argv("up"), env=dict(s.env, GREETING="fg"), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        lines = []
        try:
            deadline = time.time() + 20
            while time.time() < deadline:
                line = p.stdout.readline()
                if not line:
                    break
                lines.append(line)
                if "everything is healthy" in line:
                    break
            out = "".join(lines)
            self.assertIn("everything is healthy", out)
            self.assertIn("once | greeting=fg instance=once-1", out)
            self.assertRegex(out, r"web#[12] \| ")
            pids = [x["pid"] for sv in s.state()["services"].values() for x in sv["replicas"]]
            p.send_signal(signal.SIGTERM)
            rest, _ = p.communicate(timeout=20)
            self.assertEqual(p.returncode, 0, rest)
            self.assertIn("stopped web", rest)
            self.assertLess(rest.index("stopped once"), rest.index("stopped web"))  # reverse order
            for pid in pids:
                self.assertFalse(pid_alive(pid))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()

    def test_restart_backoff_and_no(self):
        f = os.path.join(self.dir, "crash.yaml")
        with open(f, "w") as fh:
            fh.write(textwrap.dedent("""
                services:
                  crashy:
                    restart: on-failure
                    x-native: {command: "echo start; sleep 0.05; exit 3"}
                  oneshot:
                    restart: "no"
                    x-native: {command: "exit 0"}
            """))
        s = Stack([f], os.path.join(self.dir, "var2"))
        # crashy fails at start on purpose: keep `up` from ending it as a crash loop
        env = dict(s.env, KEEL_STACK_CRASH_LOOP_STARTS="1000")
        p = subprocess.Popen(s.argv("up", "--quiet"), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(2.0)
            st = s.state()
            restarts = st["services"]["crashy"]["replicas"][0]["restarts"]
            # backoff 0.1, 0.2, 0.4, 0.8 (+ run time): about 4 restarts in 2 s, not dozens
            self.assertGreaterEqual(restarts, 2)
            self.assertLessEqual(restarts, 6)
            self.assertEqual(st["services"]["oneshot"]["replicas"][0]["state"], "exited")
            self.assertEqual(st["services"]["oneshot"]["replicas"][0]["restarts"], 0)
        finally:
            p.send_signal(signal.SIGINT)
            p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0)


class StartFailureTest(unittest.TestCase):
    """up refuses to start when a fixed port is taken (exit 2, naming the port, the variable that
    moves it and the process that holds it), and gives up on a replica that keeps failing at
    start instead of waiting out --timeout in silence."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="keel-stack-fail-")
        self.holder = None

    def tearDown(self):
        if self.holder:
            self.holder.kill()
            self.holder.wait()
            self.holder.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def occupy(self):
        """A port held by another process (a Python listener); returns it."""
        self.holder = subprocess.Popen(
            [sys.executable, "-c", "import socket, sys, time\n"
             "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
             "print(s.getsockname()[1], flush=True); time.sleep(120)", "keel-port-holder"],
            stdout=subprocess.PIPE, text=True)
        return int(self.holder.stdout.readline())

    def full_stack(self, var):
        s = Stack([], os.path.join(self.dir, var))
        for k in FOREIGN_ENV:
            s.env.pop(k, None)
        s.env.update({k: str(free_port()) for k in ("PG_PORT", "REDIS_PORT", "GATEWAY_PORT", "INTERNAL_GATEWAY_PORT",
                                                    "NATS_PORT", "NATS_MONITOR_PORT")},
                     KEEL_BUILD_DIR=os.path.join(self.dir, "no-build"))
        return s

    def test_busy_port(self):
        busy = self.occupy()
        for var in ("GATEWAY_PORT", "INTERNAL_GATEWAY_PORT", "PG_PORT", "NATS_MONITOR_PORT"):
            s = self.full_stack(var.lower())
            s.env[var] = str(busy)
            t0 = time.monotonic()
            r = s.run("up", "-d", "--timeout", "30", timeout=60)
            self.assertEqual(r.returncode, 2, var + ": " + r.stdout + r.stderr)
            self.assertLess(time.monotonic() - t0, 10)
            self.assertIn(f"port {busy} ", r.stderr)
            self.assertIn(f"set {var} to use another port", r.stderr)
            self.assertIn(f"pid {self.holder.pid} ", r.stderr)
            self.assertIn("keel-port-holder", r.stderr)   # its command line
            self.assertIn("nothing was started", r.stderr)
            self.assertNotIn("Traceback", r.stderr)
            # nothing started: no state, no process log, no database directory
            self.assertFalse(os.path.exists(os.path.join(s.var_dir, "stack.json")))
            self.assertEqual(os.listdir(os.path.join(s.var_dir, "log")), [])
            self.assertFalse(os.path.exists(os.path.join(s.var_dir, "pg")))
        # the foreground up checks too
        s = self.full_stack("fg")
        s.env["REDIS_PORT"] = str(busy)
        r = s.run("up", timeout=60)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("set REDIS_PORT to use another port", r.stderr)

    def test_port_configured_twice(self):
        s = self.full_stack("twice")
        s.env["REDIS_PORT"] = s.env["PG_PORT"]
        r = s.run("up", "-d", timeout=60)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn(f"port {s.env['PG_PORT']} is configured twice", r.stderr)
        self.assertIn("PG_PORT", r.stderr)
        self.assertIn("REDIS_PORT", r.stderr)

    def test_ha_replica_port(self):
        """nats#2 of the ha profile binds NATS_PORT + 1: the message says so."""
        busy = self.occupy()
        s = self.full_stack("ha")
        s.env["NATS_PORT"] = str(busy - 1)
        if not ports.is_free(busy - 1):
            self.skipTest("the port below the held one is taken")   # very unlikely
        r = s.run("up", "-d", "--profile", "ha", timeout=60)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn(f"port {busy} (nats#2)", r.stderr)
        self.assertIn("nats#2 uses NATS_PORT + 1", r.stderr)

    def test_crash_loop(self):
        f = os.path.join(self.dir, "loop.yaml")
        with open(f, "w") as fh:
            fh.write(textwrap.dedent("""
                services:
                  ok:
                    x-native:
                      command: [/usr/bin/python3, -m, http.server, "${PORT}", --bind, 127.0.0.1]
                      healthcheck: {http: "http://127.0.0.1:${PORT}/"}
                  broken:
                    restart: unless-stopped
                    depends_on: {ok: {condition: service_healthy}}
                    x-native:
                      command: "echo starting; echo 'bind: address already in use (for the test)' >&2; exit 1"
                      healthcheck: {http: "http://127.0.0.1:${PORT}/"}
            """))
        s = Stack([f], os.path.join(self.dir, "var"))
        t0 = time.monotonic()
        r = s.run("up", "-d", "--timeout", "120", timeout=150)
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertLess(took, 30, r.stderr)   # not the 120 s timeout
        self.assertIn("broken: keeps failing at start", r.stderr)
        self.assertIn("bind: address already in use (for the test)", r.stderr)   # its log's tail
        self.assertIn("start failed", r.stderr)
        # everything it started is stopped by the time up returns
        self.assertEqual(s.run("ps").returncode, 1)
        self.assertFalse(os.path.exists(os.path.join(s.var_dir, "stack.json")))


FAKE_SERVICE = r"""#!/usr/bin/python3
# stand-in for a keel service binary: the env contract, the bus, /healthz, /readyz, JSON answers
import http.server, json, os, signal, socket, subprocess, sys, urllib.parse, urllib.request
name = os.path.basename(sys.argv[0]).replace("keel-", "")
# the ops services (alert-relay, release-bot) publish no events: no NATS user of their own
uses_bus = name not in ("alert-relay", "release-bot")
for k in ("PORT", "INSTANCE_ID", "PG_DSN", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "KEEL_SERVICE_TOKEN",
          "NATS_URL") + (("NATS_USER", "NATS_PASSWORD", "BUS_REPLICAS") if uses_bus else ()):
    if not os.environ.get(k):
        sys.exit(f"missing {k}")
assert not uses_bus or os.environ["NATS_USER"] == name, os.environ.get("NATS_USER")
if name != "auth" and uses_bus:   # the ops services take no user tokens either
    assert os.environ["AUTH_JWKS_URL"].endswith("/api/auth/.well-known/jwks.json")
for k in {"orders": ["CATALOG_URL"], "notifications": ["TELEGRAM_API_BASE", "TELEGRAM_BOT_TOKEN"],
          "auth": ["AUTH_KEY_ENCRYPTION_KEY"]}.get(name, []):
    if not os.environ.get(k):
        sys.exit(f"missing {k}")
# the bus is up before any service: every node of NATS_URL greets with INFO
for u in os.environ["NATS_URL"].split(","):
    u = urllib.parse.urlsplit(u)
    with socket.create_connection((u.hostname, u.port), timeout=2) as s:
        assert s.makefile("rb").readline().startswith(b"INFO "), u
if name == "catalog":
    subprocess.run(["/usr/lib/postgresql/15/bin/psql", os.environ["PG_DSN"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
        "SELECT pg_advisory_xact_lock(42); CREATE TABLE IF NOT EXISTS products(id uuid primary key, sku text unique not null, name text not null,"
        " description text not null default '', price_minor bigint not null, currency char(3) not null,"
        " stock integer not null, created_at timestamptz not null default now(),"
        " updated_at timestamptz not null default now())"], check=True)
if name == "auth" and os.environ.get("AUTH_ADMIN_PASSWORD"):
    print(json.dumps({"msg": "admin password received"}), flush=True)
if name == "notifications":   # the Telegram Bot API (the fake natively) with the bot token
    req = urllib.request.Request(f"{os.environ['TELEGRAM_API_BASE']}/bot{os.environ['TELEGRAM_BOT_TOKEN']}/sendMessage",
                                 data=json.dumps({"chat_id": 1, "text": os.environ["INSTANCE_ID"] + " up"}).encode(),
                                 headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    assert json.load(opener.open(req, timeout=5))["ok"]
ENV = {k: os.environ.get(k) for k in ("NATS_URL", "BUS_REPLICAS", "CATALOG_URL", "TELEGRAM_API_BASE")}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        body = json.dumps({"service": name, "instance": os.environ["INSTANCE_ID"], "path": self.path,
                           "method": self.command, "request_id": self.headers.get("X-Request-Id"), "env": ENV}).encode()
        self.send_response(502 if "fail=502" in self.path else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Content-Type-Options", "nosniff")   # as the keel services do
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = reply
    def log_message(self, *a): pass
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print(json.dumps({"level": "info", "msg": "listening", "port": os.environ["PORT"]}), flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""

# what a developer's environment might hold and these tests must not inherit
FOREIGN_ENV = ("KEEL_SERVICE_TOKEN", "AUTH_ADMIN_PASSWORD", "TELEGRAM_API_BASE", "TELEGRAM_BOT_TOKEN",
               "COMPOSE_PROFILES", "NATS_URL", "NATS_NODES", "BUS_REPLICAS", "GATEWAY_ACCESS_LOG",
               "NATS_CLUSTER_PORT", "KEEL_VAR_DIR", "PG_POOL_SIZE", "PG_MAX_CONNECTIONS", "PG_RESERVED_CONNECTIONS",
               "GATEWAY_TLS_PORT", "NATS_USER", "NATS_PASSWORD") + tuple(SECRETS)

# which generated secrets each process may hold (the rest must not reach it)
def allowed_secrets(svc):
    if svc == "nats":
        return {k for k in SECRETS if k.startswith("NATS_") and k.endswith("_PASSWORD")}
    if svc == "telegram-fake":
        return {"TELEGRAM_BOT_TOKEN", "OPS_BOT_TOKEN"}
    if svc == "postgres-exporter":   # the pg_monitor role's password
        return {"PG_MONITOR_PASSWORD"}
    if svc == "redis-exporter":
        return {"REDIS_PASSWORD"}
    if svc in SERVICES:
        up = db_name(svc).upper()
        return {f"{up}_DB_PASSWORD", "REDIS_PASSWORD", "KEEL_SERVICE_TOKEN"} | \
            ({f"NATS_{up}_PASSWORD"} if svc not in ("alert-relay", "release-bot") else set()) | \
            ({"AUTH_KEY_ENCRYPTION_KEY"} if svc == "auth" else set()) | \
            ({"TELEGRAM_BOT_TOKEN"} if svc == "notifications" else set()) | \
            ({"OPS_BOT_TOKEN"} if svc in ("alert-relay", "release-bot") else set()) | \
            ({"PAYMENT_PROVIDER_SECRET"} if svc == "payments" else set())
    if svc == "payment-provider-fake":
        return {"PAYMENT_PROVIDER_SECRET"}
    return set()   # postgres, redis (it unsets REDIS_PASSWORD once its config file has it), gateway


def stack_logs(s):
    out = []
    logdir = os.path.join(s.var_dir, "log")
    for n in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []:
        out.append(f"--- {n}\n" + read(os.path.join(logdir, n))[-3000:])
    return "\n".join(out)


class NatsClusterTest(unittest.TestCase):
    """The nats service of deploy/compose/db.yaml, as it is, with the ha profile: three JetStream
    nodes on loopback in one cluster, each with its own ports, name and store."""

    def test_ha_profile(self):
        import yaml
        d = tempfile.mkdtemp(prefix="keel-stack-nats-")
        s = None
        try:
            with open(os.path.join(ROOT, "deploy/compose/db.yaml")) as f:
                db = yaml.safe_load(f)
            path = os.path.join(d, "nats.yaml")
            with open(path, "w") as f:
                yaml.safe_dump({"x-profiles": db["x-profiles"], "x-secrets": db["x-secrets"],
                                "services": {k: db["services"][k] for k in ("nats", "nats-2", "nats-3")}}, f)
            base = free_ports(9)
            s = Stack([path], os.path.join(d, "var"))
            for k in FOREIGN_ENV:
                s.env.pop(k, None)
            s.env.update(NATS_PORT=str(base), NATS_MONITOR_PORT=str(base + 3), NATS_CLUSTER_PORT=str(base + 6))
            r = s.run("up", "-d", "--profile", "ha", "--timeout", "30")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr + stack_logs(s))
            urls = ",".join(f"nats://127.0.0.1:{base + i}" for i in range(3))
            self.assertIn(urls, r.stdout)
            st = s.state()
            self.assertEqual(st["profiles"], ["ha"])
            self.assertEqual(st["exports"]["NATS_URL"], urls)
            reps = st["services"]["nats"]["replicas"]
            self.assertEqual([(x["label"], x["port"], x["ports"]["MONITOR_PORT"], x["ports"]["CLUSTER_PORT"], x["health"])
                              for x in reps],
                             [(f"nats#{i + 1}", base + i, base + 3 + i, base + 6 + i, "healthy") for i in range(3)])
            leaders = set()
            for i in range(3):
                mon = f"http://127.0.0.1:{base + 3 + i}"
                varz = json.loads(http(mon + "/varz")[2])
                self.assertEqual((varz["server_name"], varz["cluster"]["name"], varz["host"]),
                                 (f"nats-{i + 1}", "keel", "127.0.0.1"))
                self.assertEqual(varz["cluster"]["cluster_port"], base + 6 + i)
                routez = json.loads(http(mon + "/routez")[2])
                self.assertEqual(routez["num_routes"], 2, routez)
                jsz = json.loads(http(mon + "/jsz")[2])
                self.assertEqual(jsz["meta_cluster"]["cluster_size"], 3)
                leaders.add(jsz["meta_cluster"]["leader"])
                self.assertEqual(jsz["config"]["store_dir"],
                                 os.path.join(s.var_dir, "nats", "keel", f"nats-{i + 1}", "jetstream"))
                self.assertEqual((jsz["config"]["max_memory"], jsz["config"]["max_storage"]), (256 << 20, 8 << 30))
            self.assertEqual(len(leaders), 1)
            self.assertIn(leaders.pop(), {"nats-1", "nats-2", "nats-3"})

            # authorization in a cluster (2.9.10: no `accounts` block, CVE-2023-47090): no anonymous client
            for i in range(3):
                with self.assertRaisesRegex(PermissionError, "Authorization Violation"):
                    Nats(base + i)
            # a stream with 3 replicas works; it keeps taking messages while a node restarts
            nc = operator_nats(base, s.var_dir)
            try:
                r = nc.js("STREAM.CREATE.KEELTEST", {"name": "KEELTEST", "subjects": ["keeltest.>"],
                                                    "storage": "file", "num_replicas": 3})
                self.assertNotIn("error", r)
                self.assertEqual(r["config"]["num_replicas"], 3)
                self.assertEqual(nc.request("keeltest.a", b"one")["seq"], 1)
                old = reps[1]["pid"]
                self.assertEqual(s.run("kill", "nats#2").returncode, 0)
                # if nats-2 led the stream, the other two elect a new leader first (a few seconds);
                # keel-stack restarts nats-2 meanwhile, so it may well lead again: any leader that
                # answers will do (only a live leader answers STREAM.INFO)
                def has_leader():
                    nonlocal nc
                    try:
                        return nc.js("STREAM.INFO.KEELTEST").get("cluster", {}).get("leader") not in (None, "")
                    except OSError:   # a timed-out socket file cannot be read again: reconnect
                        nc.close()
                        nc = operator_nats(base, s.var_dir)
                        return False
                self.assertTrue(s.wait(has_leader, timeout=30), s.run("ps").stdout)
                self.assertEqual(nc.request("keeltest.a", b"two")["seq"], 2)
                self.assertTrue(s.wait(lambda: s.replica("nats", 2)["pid"] not in (None, old)
                                       and s.replica("nats", 2)["health"] == "healthy", timeout=20),
                                s.run("ps").stdout)
                info = nc.js("STREAM.INFO.KEELTEST")
                self.assertEqual(info["state"]["messages"], 2)
                self.assertEqual(len(info["cluster"]["replicas"]), 2)
            finally:
                nc.close()
        finally:
            if s:
                s.run("down")
            shutil.rmtree(d, ignore_errors=True)


class FullSystemTest(unittest.TestCase):
    """deploy/compose/db.yaml + app.yaml with stand-in binaries: PostgreSQL (initdb as postgres),
    databases per service, Redis, NATS JetStream, 8 services x 2 replicas, the nginx gateway (public
    and internal servers), the catalog seed and the Telegram fake."""

    def test_db_and_app(self):
        d = tempfile.mkdtemp(prefix="keel-stack-full-")
        try:
            build = os.path.join(d, "build")
            for svc in SERVICES:
                os.makedirs(os.path.join(build, "services", svc))
                path = os.path.join(build, "services", svc, "keel-" + svc)
                with open(path, "w") as f:
                    f.write(FAKE_SERVICE)
                os.chmod(path, 0o755)
            ports = {k: str(free_port()) for k in ("PG_PORT", "REDIS_PORT", "GATEWAY_PORT", "INTERNAL_GATEWAY_PORT",
                                                    "NATS_PORT", "NATS_MONITOR_PORT", "GATEWAY_TLS_PORT")}   # cluster port: auto
            s = Stack([], os.path.join(d, "var"))
            for k in FOREIGN_ENV:
                s.env.pop(k, None)
            s.env.update(ports, KEEL_BUILD_DIR=build, DRAIN_TIMEOUT_MS="1000")
            try:
                r = s.run("up", "-d", "--timeout", "30", timeout=60)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr + stack_logs(s))
                self.assertRegex(r.stdout, r"auth admin password: \S+")
                secrets = read(os.path.join(s.var_dir, "secrets.env"))
                generated = read_secrets(s.var_dir)
                self.assertEqual(sorted(generated), sorted(SECRETS))
                self.assertIn("KEEL_SERVICE_TOKEN=", secrets)
                bot_token = re.search(r"(?m)^TELEGRAM_BOT_TOKEN=(\S+)$", secrets).group(1)
                self.assertNotIn("ADMIN", secrets)
                self.assertEqual(os.stat(os.path.join(s.var_dir, "secrets.env")).st_mode & 0o777, 0o600)
                st = s.state()
                self.assertEqual([len(st["services"][x]["replicas"]) for x in SERVICES], [2] * len(SERVICES))
                nats_url = f"nats://127.0.0.1:{ports['NATS_PORT']}"
                monitor = f"http://127.0.0.1:{ports['NATS_MONITOR_PORT']}"
                self.assertRegex(r.stdout, rf"nats +port {ports['NATS_PORT']} +{nats_url}  {monitor}/")
                fake = re.search(r"telegram-fake +port \d+ +(http://127\.0\.0\.1:\d+)/_fake/messages", r.stdout)
                self.assertTrue(fake, r.stdout)
                fake = fake.group(1)

                # PostgreSQL: initdb'd as postgres, per-service role + database, fsync on
                pg = st["services"]["postgres"]["replicas"][0]
                self.assertEqual(pg["port"], int(ports["PG_PORT"]))
                owner = subprocess.run(["ps", "-o", "user=", "-p", str(pg["pid"])], capture_output=True, text=True)
                self.assertEqual(owner.stdout.strip(), "postgres")
                psql = ["/usr/lib/postgresql/15/bin/psql", "-X", "-At", "-c"]

                def pg_env(db, password):   # the password in psql's environment, not on its command line
                    return dict(os.environ, PGHOST="127.0.0.1", PGPORT=ports["PG_PORT"], PGDATABASE=db, PGUSER=db,
                                PGPASSWORD=password)
                catalog_pw = generated["CATALOG_DB_PASSWORD"]
                q = subprocess.run(psql + ["select count(*), current_setting('fsync'), current_setting('max_connections') "
                                           "from products"], env=pg_env("catalog", catalog_pw), capture_output=True, text=True)
                self.assertEqual(q.stdout.strip(), "12|on|200", q.stderr)
                for svc in SERVICES:   # each role has its generated password; its name is no longer one
                    db = db_name(svc)
                    q = subprocess.run(psql + ["select current_user || '@' || current_database()"],
                                       env=pg_env(db, generated[f"{db.upper()}_DB_PASSWORD"]), capture_output=True, text=True)
                    self.assertEqual(q.stdout.strip(), f"{db}@{db}", q.stderr)
                    q = subprocess.run(psql + ["select 1"], env=pg_env(db, db), capture_output=True, text=True)
                    self.assertIn("password authentication failed", q.stderr)
                # Redis wants its password (requirepass from var/redis/redis.conf, mode 600)
                r2 = subprocess.run(["redis-cli", "-p", ports["REDIS_PORT"], "ping"], capture_output=True, text=True,
                                    env={k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"})
                self.assertIn("NOAUTH", r2.stdout + r2.stderr)
                r2 = subprocess.run(["redis-cli", "-p", ports["REDIS_PORT"], "set", "k", "v"], capture_output=True, text=True,
                                    env={k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"})
                self.assertIn("NOAUTH", r2.stdout + r2.stderr)
                r2 = subprocess.run(["redis-cli", "-p", ports["REDIS_PORT"], "ping"], capture_output=True, text=True,
                                    env=dict(os.environ, REDISCLI_AUTH=generated["REDIS_PASSWORD"]))
                self.assertEqual(r2.stdout.strip(), "PONG")
                self.assertEqual(os.stat(os.path.join(s.var_dir, "redis", "redis.conf")).st_mode & 0o777, 0o600)

                # every secret only where it is needed: no process keel-stack started holds another in its
                # environment, and none is on any command line (ps)
                values = {v: k for k, v in generated.items()}
                for name, sv in st["services"].items():
                    for rep in sv["replicas"]:
                        with open(f"/proc/{rep['pid']}/environ", "rb") as f:
                            environ = f.read().decode(errors="replace").split("\0")
                        held = {values[e.split("=", 1)[1]] for e in environ if "=" in e and e.split("=", 1)[1] in values}
                        held |= {k for e in environ for v, k in values.items() if v in e}   # inside a DSN
                        self.assertLessEqual(held, allowed_secrets(name), (name, held - allowed_secrets(name)))
                        if name in SERVICES and name not in ("alert-relay", "release-bot"):
                            self.assertIn(f"NATS_{db_name(name).upper()}_PASSWORD", held)
                for pid in os.listdir("/proc"):
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as f:
                            cmdline = f.read().decode(errors="replace")
                    except OSError:
                        continue
                    for v, k in values.items():
                        self.assertNotIn(v, cmdline, (pid, k))
                for m in os.listdir(os.path.join(s.var_dir, "markers")):   # they hold the steps' commands
                    for v, k in values.items():
                        self.assertNotIn(v, read(os.path.join(s.var_dir, "markers", m)), (m, k))

                # NATS: one JetStream node, data under var/nats, healthy, listening on loopback only
                self.assertEqual(json.loads(http(monitor + "/healthz?js-enabled-only=true")[2]), {"status": "ok"})
                varz = json.loads(http(monitor + "/varz")[2])
                self.assertEqual((varz["server_name"], varz["host"], varz["http_host"], varz["port"]),
                                 ("nats-1", "127.0.0.1", "127.0.0.1", int(ports["NATS_PORT"])))
                self.assertNotIn("name", varz.get("cluster") or {})
                jsz = json.loads(http(monitor + "/jsz")[2])
                self.assertEqual(jsz["config"]["store_dir"], os.path.join(s.var_dir, "nats", "nats-1", "jetstream"))
                self.assertEqual(jsz["config"]["max_memory"], 256 << 20)
                nc = operator_nats(int(ports["NATS_PORT"]), s.var_dir)
                try:
                    r3 = nc.js("STREAM.CREATE.KEELTEST", {"name": "KEELTEST", "subjects": ["keeltest.>"], "storage": "file"})
                    self.assertNotIn("error", r3)
                    self.assertEqual(nc.request("keeltest.x", b"kept")["seq"], 1)
                finally:
                    nc.close()
                # NATS wants a user; a service's publishes only its own domain's events
                with self.assertRaisesRegex(PermissionError, "Authorization Violation"):
                    Nats(int(ports["NATS_PORT"]))
                with self.assertRaisesRegex(PermissionError, "Authorization Violation"):
                    Nats(int(ports["NATS_PORT"]), "orders", generated["NATS_PAYMENTS_PASSWORD"])
                nc = Nats(int(ports["NATS_PORT"]), "orders", generated["NATS_ORDERS_PASSWORD"])
                try:
                    self.assertIn("Permissions Violation for Publish", nc.publish_error("payments.payment_captured.v1") or "")
                    self.assertIn("Permissions Violation for Publish", nc.publish_error("keeltest.x") or "")
                    self.assertIn("Permissions Violation for Publish", nc.publish_error("keel.registry.payments") or "")
                    for ok in ("orders.order_placed.v1", "trail.abc", "dlq.orders.order_placed.v1", "keel.registry.orders"):
                        self.assertIsNone(nc.publish_error(ok), ok)
                    self.assertEqual(nc.js("STREAM.INFO.KEELTEST")["state"]["messages"], 1)   # $JS.API.> allowed
                    self.assertIn("Permissions Violation for Subscription", nc.subscribe_error("payments.>") or "")
                    self.assertIn("Permissions Violation for Subscription", nc.subscribe_error(">") or "")
                    self.assertIsNone(nc.subscribe_error("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.PAYMENTS.orders-x"))
                finally:
                    nc.close()

                # the gateway over TLS with the local CA: the same routes, HSTS only there
                import ssl
                tls_dir = os.path.join(s.var_dir, "tls")
                self.assertEqual(os.stat(os.path.join(tls_dir, "ca.key")).st_mode & 0o777, 0o600)
                self.assertIn(f"https://localhost:{ports['GATEWAY_TLS_PORT']}/api/catalog/products (CA: {tls_dir}/ca.crt)",
                              r.stdout)
                ctx = ssl.create_default_context(cafile=os.path.join(tls_dir, "ca.crt"))
                for host in ("localhost", "127.0.0.1"):
                    with urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)) \
                            .open(f"https://{host}:{ports['GATEWAY_TLS_PORT']}/api/catalog/products", timeout=5) as resp:
                        self.assertEqual(json.loads(resp.read())["service"], "catalog")
                        self.assertEqual(resp.headers["Strict-Transport-Security"], "max-age=31536000")
                        self.assertEqual(resp.headers.get_all("X-Content-Type-Options"), ["nosniff"])   # once
                        self.assertEqual(resp.headers["Referrer-Policy"], "no-referrer")
                with self.assertRaises(urllib.error.URLError):   # not trusted without the CA
                    OPENER.open(f"https://localhost:{ports['GATEWAY_TLS_PORT']}/nginx-static", timeout=5)

                # the services' bus settings
                gw = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
                for svc in sorted(public_services() & set(SERVICES)):
                    prefix = f"/api/{svc}/" + ("login" if svc == "auth" else "x")
                    code, _, body = http(gw + prefix, method="GET")
                    self.assertEqual(code, 200, (svc, body))
                    j = json.loads(body)
                    self.assertEqual((j["service"], j["path"]), (svc, prefix))
                    self.assertEqual((j["env"]["NATS_URL"], j["env"]["BUS_REPLICAS"]), (nats_url, "1"))
                internal = f"http://127.0.0.1:{ports['INTERNAL_GATEWAY_PORT']}"
                j = json.loads(http(gw + "/api/orders/x")[2])
                self.assertEqual(j["env"]["CATALOG_URL"], f"{internal}/catalog")
                j = json.loads(http(gw + "/api/notifications/x")[2])
                self.assertEqual(j["env"]["TELEGRAM_API_BASE"], fake)

                # the internal gateway: /<svc>/... -> <svc>'s /..., /internal/ included
                code, _, body = http(f"{internal}/catalog/internal/products?ids=a,b", headers={"X-Request-Id": "int-1"})
                self.assertEqual(code, 200, body)
                j = json.loads(body)
                self.assertEqual((j["service"], j["path"], j["request_id"]), ("catalog", "/internal/products?ids=a,b", "int-1"))
                self.assertEqual(json.loads(http(f"{internal}/orders/internal/x", data=b"{}", method="POST")[2])["path"],
                                 "/internal/x")
                code, hdr, body = http(f"{internal}/nope/internal/x")
                self.assertEqual((code, hdr.get("Content-Type")), (404, "application/problem+json"))

                # the Telegram fake got a message from each notifications replica, with the bot token
                msgs = json.loads(http(fake + "/_fake/messages")[2])
                self.assertEqual(sorted(m["text"] for m in msgs), ["notifications-1 up", "notifications-2 up"])
                code, _, body = http(f"{fake}/botWRONG/getMe")
                self.assertEqual(code, 401)
                self.assertEqual(http(f"{fake}/bot{bot_token}/getMe")[0], 200)

                # the gateway
                seen = set()
                for _ in range(6):
                    code, hdr, body = http(gw + "/api/catalog/products?limit=2", headers={"X-Request-Id": "abc-123"})
                    self.assertEqual(code, 200)
                    j = json.loads(body)
                    self.assertEqual((j["service"], j["path"], j["request_id"]), ("catalog", "/api/catalog/products?limit=2", "abc-123"))
                    self.assertEqual(hdr.get("X-Request-Id"), "abc-123")
                    seen.add(j["instance"])
                self.assertEqual(seen, {"catalog-1", "catalog-2"})
                code, hdr, body = http(gw + "/api/auth/.well-known/jwks.json")
                self.assertEqual((code, json.loads(body)["service"]), (200, "auth"))
                self.assertTrue(hdr.get("X-Request-Id"))
                self.assertEqual((hdr.get("X-Content-Type-Options"), hdr.get("Referrer-Policy")), ("nosniff", "no-referrer"))
                self.assertNotIn("Strict-Transport-Security", hdr)   # plain HTTP: no HSTS
                for path in ("/nope", "/internal/x", "/api/catalog/internal/reserve", "/api/auth/internal",
                             "/api/orders/internal/x", "/catalog/internal/products"):
                    code, hdr, body = http(gw + path)
                    self.assertEqual(code, 404, path)
                    self.assertEqual(hdr.get("Content-Type"), "application/problem+json")
                    self.assertEqual(json.loads(body)["detail"], "no route for this path")
                code, hdr, body = http(gw + "/api/catalog/products", data=b"x" * (2 << 20), method="POST")
                self.assertEqual(code, 413)
                self.assertEqual(json.loads(body)["status"], 413)
                self.assertEqual(http(gw + "/nginx-static")[2], b"ok")
                codes = [http(gw + "/api/auth/login", data=b"{}", method="POST")[0] for _ in range(40)]
                self.assertIn(429, codes)

                # POST /api/orders reaches orders; a failed POST is not retried on the other
                # instance, a failed GET is (the last orders calls: both instances now count as failed)
                code, _, body = http(gw + "/api/orders", data=b"{}", method="POST")
                self.assertEqual((code, json.loads(body)["path"], json.loads(body)["method"]), (200, "/api/orders", "POST"))
                code, _, _ = http(gw + "/api/orders?fail=502", data=b"{}", method="POST", headers={"X-Request-Id": "post-once"})
                self.assertEqual(code, 502)
                code, _, _ = http(gw + "/api/orders/1?fail=502", headers={"X-Request-Id": "get-retried"})
                self.assertEqual(code, 502)

                def access_log():   # nginx writes the line just after the answer: wait for the last one
                    return [json.loads(x) for x in read(os.path.join(s.var_dir, "nginx", "access.log")).splitlines()]
                self.assertTrue(s.wait(lambda: any(a["request_id"] == "get-retried" for a in access_log()), 5))
                access = access_log()
                mine = [a for a in access if a["request_id"] == "abc-123"]
                self.assertEqual(len(mine), 6)
                self.assertEqual((mine[0]["status"], mine[0]["method"]), (200, "GET"))
                post = [a for a in access if a["request_id"] == "post-once"]
                self.assertEqual(len(post), 1)
                self.assertEqual((post[0]["method"], post[0]["upstream_status"]), ("POST", "502"))
                self.assertEqual(len(post[0]["upstream"].split(",")), 1, post[0])
                get = [a for a in access if a["request_id"] == "get-retried"]
                self.assertEqual(get[0]["upstream_status"], "502, 502", get[0])
                self.assertTrue(any(a["request_id"] == "int-1" and a["uri"] == "/catalog/internal/products?ids=a,b"
                                    for a in access))

                # kill a catalog replica: the gateway keeps answering (retry on the next instance)
                s.run("kill", "catalog#1")
                for _ in range(10):
                    self.assertEqual(http(gw + "/api/catalog/products")[0], 200)
                self.assertTrue(s.wait(lambda: s.replica("catalog", 1)["health"] == "healthy"
                                       and s.replica("catalog", 1)["restarts"] == 1))

                # kill nats: restarted by its policy, healthy again, the stream's message still there
                old = s.replica("nats", 1)["pid"]
                self.assertEqual(s.run("kill", "nats").returncode, 0)
                self.assertTrue(s.wait(lambda: s.replica("nats", 1)["pid"] not in (None, old)
                                       and s.replica("nats", 1)["health"] == "healthy"), s.run("ps").stdout)
                self.assertEqual(s.replica("nats", 1)["restarts"], 1)
                nc = operator_nats(int(ports["NATS_PORT"]), s.var_dir)
                try:
                    self.assertEqual(nc.js("STREAM.INFO.KEELTEST")["state"]["messages"], 1)
                finally:
                    nc.close()

                pids = [x["pid"] for sv in s.state()["services"].values() for x in sv["replicas"]]
                r = s.run("down")
                self.assertEqual(r.returncode, 0)
                for p in pids:
                    self.assertFalse(pid_alive(p), p)

                # second up: reuses the data; no new admin password
                r = s.run("up", "-d", "--timeout", "30", timeout=60)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr + stack_logs(s))
                self.assertNotIn("admin password", r.stdout)
                q = subprocess.run(psql + ["select count(*) from products"], env=pg_env("catalog", catalog_pw),
                                   capture_output=True, text=True)
                self.assertEqual(q.stdout.strip(), "12")
                self.assertEqual(read_secrets(s.var_dir), generated)   # the same secrets
                nc = operator_nats(int(ports["NATS_PORT"]), s.var_dir)
                try:
                    self.assertEqual(nc.js("STREAM.INFO.KEELTEST")["state"]["messages"], 1)
                finally:
                    nc.close()
                fake = re.search(r"telegram-fake +port \d+ +(http://127\.0\.0\.1:\d+)/_fake/messages", r.stdout).group(1)
                self.assertEqual(len(json.loads(http(fake + "/_fake/messages")[2])), 4)   # kept in var/telegram-fake
            finally:
                s.run("down")
        finally:
            pgdir = os.path.join(d, "var", "pg")
            if os.path.islink(pgdir):  # relocated (the temp dir is not reachable by postgres)
                shutil.rmtree(os.path.dirname(os.path.realpath(pgdir)), ignore_errors=True)
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
