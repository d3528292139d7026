#!/usr/bin/python3
"""Tests of keel-stack. Run: /usr/bin/python3 tools/stack/tests/stack_test.py
Unit tests (interpolation, ordering, ports, nginx config) and real runs: a tiny stack of
python http.server processes (health, SIGKILL -> restart, rolling restart, down), and the
real deploy/compose/db.yaml + app.yaml with stand-in service binaries (PostgreSQL initdb as
the postgres user, Redis, nginx gateway, seed)."""
import json
import os
import shutil
import signal
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

from keel_stack import interp, model, nginx  # noqa: E402
from keel_stack.supervisor import Supervisor, free_port, pid_alive  # noqa: E402

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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


def services_from(text, env=None):
    doc = interp.interpolate_tree(__import__("yaml").safe_load(text), env or {})
    svcs = model.build_services(doc)
    return svcs, model.start_order(svcs)


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
        r = subprocess.run([KEEL_STACK, "--var-dir", tempfile.gettempdir(), "config"],
                           env=dict(os.environ, KEEL_SERVICE_TOKEN="t"), capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("start order: postgres -> redis -> auth -> gateway -> catalog", r.stdout)


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

    def test_rendered_gateway_config_is_valid(self):
        svcs, order = services_from("""
services:
  auth: {deploy: {replicas: 2}, x-native: {command: [a]}}
  catalog: {deploy: {replicas: 2}, x-native: {command: [c]}}
  gateway:
    x-native:
      port: 18080
      nginx: {template: deploy/nginx/gateway.conf.template, upstreams: [auth, catalog]}
""")
        with tempfile.TemporaryDirectory() as d:
            sup = Supervisor(svcs, order, ROOT, d, dict(os.environ), echo=False)
            sup.plan()
            conf = read(os.path.join(d, "nginx", "nginx.conf"))
            for r in sup.replicas["auth"] + sup.replicas["catalog"]:
                self.assertIn(f"server 127.0.0.1:{r.port} max_fails=1", conf)
            self.assertIn("listen 127.0.0.1:18080", conf)
            self.assertIn(f"pid {d}/nginx/nginx.pid;", conf)
            self.assertNotIn("${", conf)
            self.assertIn("non_idempotent", read(os.path.join(ROOT, "deploy/nginx/gateway.conf.template"))
                          .split("proxy_next_upstream error", 1)[0] + "non_idempotent")
            self.assertNotIn("http_504 non_idempotent", conf)
            cmd = sup.commands["gateway"]
            r = subprocess.run(cmd[:5] + ["-t"], capture_output=True, text=True, timeout=20)
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
        p = subprocess.Popen(s.argv("up", "--quiet"), env=s.env, stdout=subprocess.PIPE,
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


FAKE_SERVICE = r'''#!/usr/bin/python3
# stand-in for a keel service binary: the env contract, /healthz, /readyz, JSON answers
import http.server, json, os, signal, subprocess, sys
name = os.path.basename(sys.argv[0]).replace("keel-", "")
for k in ("PORT", "INSTANCE_ID", "PG_DSN", "REDIS_HOST", "REDIS_PORT", "KEEL_SERVICE_TOKEN"):
    if not os.environ.get(k):
        sys.exit(f"missing {k}")
if name == "catalog":
    assert os.environ["AUTH_JWKS_URL"].endswith("/api/auth/.well-known/jwks.json")
    subprocess.run(["/usr/lib/postgresql/15/bin/psql", os.environ["PG_DSN"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
        "SELECT pg_advisory_xact_lock(42); CREATE TABLE IF NOT EXISTS products(id uuid primary key, sku text unique not null, name text not null,"
        " description text not null default '', price_minor bigint not null, currency char(3) not null,"
        " stock integer not null, created_at timestamptz not null default now(),"
        " updated_at timestamptz not null default now())"], check=True)
if name == "auth" and os.environ.get("AUTH_ADMIN_PASSWORD"):
    print(json.dumps({"msg": "admin password received"}), flush=True)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        body = json.dumps({"service": name, "instance": os.environ["INSTANCE_ID"], "path": self.path,
                           "request_id": self.headers.get("X-Request-Id")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = reply
    def log_message(self, *a): pass
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print(json.dumps({"level": "info", "msg": "listening", "port": os.environ["PORT"]}), flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''


class FullSystemTest(unittest.TestCase):
    """deploy/compose/db.yaml + app.yaml with stand-in binaries: PostgreSQL (initdb as postgres),
    databases per service, Redis, 2+2 service replicas, the nginx gateway and the catalog seed."""

    def test_db_and_app(self):
        d = tempfile.mkdtemp(prefix="keel-stack-full-")
        try:
            build = os.path.join(d, "build")
            for svc in ("auth", "catalog"):
                os.makedirs(os.path.join(build, "services", svc))
                path = os.path.join(build, "services", svc, "keel-" + svc)
                with open(path, "w") as f:
                    f.write(FAKE_SERVICE)
                os.chmod(path, 0o755)
            ports = {k: str(free_port()) for k in ("PG_PORT", "REDIS_PORT", "GATEWAY_PORT")}
            env = dict(ports, KEEL_BUILD_DIR=build, DRAIN_TIMEOUT_MS="1000")
            for k in ("KEEL_SERVICE_TOKEN", "AUTH_ADMIN_PASSWORD"):
                env[k] = ""
            s = Stack([], os.path.join(d, "var"))
            s.env.update(env)
            for k in ("KEEL_SERVICE_TOKEN", "AUTH_ADMIN_PASSWORD"):
                s.env.pop(k)
            try:
                r = s.run("up", "-d", "--timeout", "30", timeout=60)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.logs(s))
                self.assertRegex(r.stdout, r"auth admin password: \S+")
                secrets = read(os.path.join(s.var_dir, "secrets.env"))
                self.assertIn("KEEL_SERVICE_TOKEN=", secrets)
                self.assertNotIn("ADMIN", secrets)
                self.assertEqual(os.stat(os.path.join(s.var_dir, "secrets.env")).st_mode & 0o777, 0o600)
                st = s.state()
                self.assertEqual([len(st["services"][x]["replicas"]) for x in ("auth", "catalog")], [2, 2])

                # PostgreSQL: initdb'd as postgres, per-service role + database, fsync on
                pg = st["services"]["postgres"]["replicas"][0]
                self.assertEqual(pg["port"], int(ports["PG_PORT"]))
                owner = subprocess.run(["ps", "-o", "user=", "-p", str(pg["pid"])], capture_output=True, text=True)
                self.assertEqual(owner.stdout.strip(), "postgres")
                psql = ["/usr/lib/postgresql/15/bin/psql", "-X", "-At", "-c"]
                dsn = f"host=127.0.0.1 port={ports['PG_PORT']} dbname=catalog user=catalog password=catalog"
                q = subprocess.run(psql + ["select count(*), current_setting('fsync') from products", dsn],
                                   capture_output=True, text=True)
                self.assertEqual(q.stdout.strip(), "12|on", q.stderr)
                dsn = f"host=127.0.0.1 port={ports['PG_PORT']} dbname=auth user=auth password=auth"
                q = subprocess.run(psql + ["select current_user", dsn], capture_output=True, text=True)
                self.assertEqual(q.stdout.strip(), "auth", q.stderr)
                r2 = subprocess.run(["redis-cli", "-p", ports["REDIS_PORT"], "ping"], capture_output=True, text=True)
                self.assertEqual(r2.stdout.strip(), "PONG")

                # the gateway
                gw = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
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
                for path in ("/nope", "/internal/x", "/api/catalog/internal/reserve", "/api/auth/internal"):
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
                access = [json.loads(x) for x in read(os.path.join(s.var_dir, "nginx", "access.log")).splitlines()]
                mine = [a for a in access if a["request_id"] == "abc-123"]
                self.assertEqual(len(mine), 6)
                self.assertEqual((mine[0]["status"], mine[0]["method"]), (200, "GET"))

                # kill a catalog replica: the gateway keeps answering (retry on the next instance)
                s.run("kill", "catalog#1")
                for _ in range(10):
                    self.assertEqual(http(gw + "/api/catalog/products")[0], 200)
                self.assertTrue(s.wait(lambda: s.replica("catalog", 1)["health"] == "healthy"
                                       and s.replica("catalog", 1)["restarts"] == 1))
                pids = [x["pid"] for sv in s.state()["services"].values() for x in sv["replicas"]]
                r = s.run("down")
                self.assertEqual(r.returncode, 0)
                for p in pids:
                    self.assertFalse(pid_alive(p), p)

                # second up: reuses the data; no new admin password
                r = s.run("up", "-d", "--timeout", "30", timeout=60)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.logs(s))
                self.assertNotIn("admin password", r.stdout)
                dsn = f"host=127.0.0.1 port={ports['PG_PORT']} dbname=catalog user=catalog password=catalog"
                q = subprocess.run(psql + ["select count(*) from products", dsn], capture_output=True, text=True)
                self.assertEqual(q.stdout.strip(), "12")
            finally:
                s.run("down")
        finally:
            pgdir = os.path.join(d, "var", "pg")
            if os.path.islink(pgdir):  # relocated (the temp dir is not reachable by postgres)
                shutil.rmtree(os.path.dirname(os.path.realpath(pgdir)), ignore_errors=True)
            shutil.rmtree(d, ignore_errors=True)

    def logs(self, s):
        out = []
        logdir = os.path.join(s.var_dir, "log")
        for n in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []:
            out.append(f"--- {n}\n" + read(os.path.join(logdir, n))[-3000:])
        return "\n".join(out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
