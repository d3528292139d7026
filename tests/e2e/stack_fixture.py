"""A keel stack for end-to-end tests: started with tools/stack/keel-stack in a temporary var dir
on free ports, detached; plus a small HTTP client (standard library only) whose every response
is checked against the services' OpenAPI files (openapi_check.py).

    stack = Stack(extra_env={...}); stack.up()
    r = stack.request("GET", "/api/catalog/products")
    stack.down(); stack.cleanup()
"""
import base64
import http.client
import json
import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import openapi_check

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
KEEL_STACK = os.path.join(REPO, "tools", "stack", "keel-stack")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token):
    """(header dict, payload dict, signature str) of a compact JWS."""
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), s


def jwt_replace(token, header=None, payload=None, signature=None):
    """The token with header/payload changed (dict -> re-encoded) and the signature kept unless given."""
    h, p, s = token.split(".")
    if header is not None:
        h = b64url(json.dumps(header, separators=(",", ":")).encode())
    if payload is not None:
        p = b64url(json.dumps(payload, separators=(",", ":")).encode())
    if signature is not None:
        s = signature
    return f"{h}.{p}.{s}"


class Response:
    def __init__(self, status, reason, headers, body, elapsed):
        self.status, self.reason, self.headers, self.body, self.elapsed = status, reason, headers, body, elapsed

    def header(self, name):
        return self.headers.get(name)

    def header_all(self, name):
        return self.headers.get_all(name) or []

    @property
    def content_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def text(self, limit=600):
        t = self.body.decode("utf-8", "replace")
        return t if len(t) <= limit else t[:limit] + "..."

    def __repr__(self):
        rid = self.headers.get("X-Request-Id")
        return f"<HTTP {self.status} {self.content_type} request_id={rid} body={self.text(400)!r}>"


class Stack:
    """One keel stack (postgres, redis, nats, 2 instances of every service, nginx, the fake
    Telegram server) under a temporary var dir, on free ports."""

    def __init__(self, extra_env=None, var_dir=None, admin_password_via_env=False, monitoring=False, scale=None):
        """monitoring: also run deploy/compose/monitoring.yaml (VictoriaMetrics, vmalert,
        Alertmanager, the exporters) on free ports, scraping every SCRAPE_INTERVAL (2 s here) and
        evaluating rules every VMALERT_EVALUATION_INTERVAL (2 s); off by default (KEEL_MONITORING=off)
        to keep the other tests fast. scale: {service: replicas}, `up --scale`."""
        self.var_dir = var_dir or tempfile.mkdtemp(prefix="keel-e2e-")
        self.monitoring = monitoring
        self.scale = dict(scale or {})
        self.gateway_port, self.pg_port, self.redis_port = free_port(), free_port(), free_port()
        self.gateway_tls_port = free_port()
        self.internal_port, self.nats_port, self.nats_monitor_port = free_port(), free_port(), free_port()
        self.nats_url = f"nats://127.0.0.1:{self.nats_port}"
        self.admin_email = "admin@keel.local"
        # AUTH_ADMIN_PASSWORD: by default keel-stack generates it on the first start and prints it
        # once ("auth admin password: ..."); we read it from that output. Passing it through the
        # environment is the documented alternative, but keel-stack up currently crashes then
        # (UnboundLocalError in cli.supervise, see F_StackTool in foundation_test.py).
        self.admin_password_via_env = admin_password_via_env
        self.admin_password = "adm-" + secrets.token_urlsafe(12) if admin_password_via_env else None
        self.env = dict(os.environ)
        for k in ("KEEL_SERVICE_TOKEN", "GATEWAY_ACCESS_LOG", "AUTH_ADMIN_EMAIL", "AUTH_ADMIN_PASSWORD",
                  "COMPOSE_PROFILES", "NATS_URL", "TELEGRAM_API_BASE", "TELEGRAM_BOT_TOKEN", "BUS_REPLICAS",
                  "OPS_BOT_TOKEN", "OPS_CHAT_ID", "ALERT_THREADS",
                  "KEEL_MONITORING", "NATS_MONITOR_URLS", "ALERT_RELAY_URL", "ALERT_GROUP_INTERVAL"):
            self.env.pop(k, None)
        self.env.update({
            "KEEL_VAR_DIR": self.var_dir,
            "GATEWAY_PORT": str(self.gateway_port),
            "GATEWAY_TLS_PORT": str(self.gateway_tls_port),
            "PG_PORT": str(self.pg_port),
            "REDIS_PORT": str(self.redis_port),
            "INTERNAL_GATEWAY_PORT": str(self.internal_port),
            "NATS_PORT": str(self.nats_port),
            "NATS_MONITOR_PORT": str(self.nats_monitor_port),
            "KEEL_BUILD_DIR": os.environ.get("KEEL_BUILD_DIR") or os.path.join(REPO, "build", "release"),
        })
        if admin_password_via_env:
            self.env["AUTH_ADMIN_PASSWORD"] = self.admin_password
        self.vm_port = self.vmalert_port = self.alertmanager_port = None
        if monitoring:
            self.vm_port, self.vmalert_port, self.alertmanager_port = free_port(), free_port(), free_port()
            self.env.update({"KEEL_MONITORING": "on", "VM_PORT": str(self.vm_port),
                             "VMALERT_PORT": str(self.vmalert_port),
                             "ALERTMANAGER_PORT": str(self.alertmanager_port),
                             "SCRAPE_INTERVAL": "2s", "VMALERT_EVALUATION_INTERVAL": "2s"})
        else:
            self.env["KEEL_MONITORING"] = "off"
        # The tests register hundreds of users from 127.0.0.1; auth's default (20 an hour per
        # address) is for the real world and is tested beside its code.
        self.env["REGISTER_LIMIT_PER_IP"] = "1000000"
        self.env.update({k: str(v) for k, v in (extra_env or {}).items()})
        self.started = False
        self.logins = 0   # login requests sent through the gateway (they all count against one limiter IP)

    # -- lifecycle ---------------------------------------------------------------------
    def cli(self, *args, timeout=180, check=True):
        p = subprocess.run([KEEL_STACK, *args], cwd=REPO, env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"keel-stack {' '.join(args)} failed ({p.returncode}):\n"
                               f"{p.stdout.strip()}\n{p.stderr.strip()}")
        return p

    def up(self):
        t0 = time.monotonic()
        self.started = True
        scale = [f"--scale={svc}={n}" for svc, n in sorted(self.scale.items())]
        p = self.cli("up", "-d", "--quiet", "--timeout", "150", *scale)
        self.startup_seconds = time.monotonic() - t0
        self.up_output = p.stdout
        if not self.admin_password_via_env:
            m = re.search(r"(?m)^auth admin password: (\S+)", p.stdout)
            if not m:
                raise RuntimeError(f"keel-stack up did not print the generated admin password:\n{p.stdout}")
            self.admin_password = m.group(1)
        return self

    def down(self):
        if self.started:
            try:
                self.cli("down", timeout=120, check=False)
            finally:
                self.started = False

    def cleanup(self):
        shutil.rmtree(self.var_dir, ignore_errors=True)

    # -- state -------------------------------------------------------------------------
    def state(self):
        with open(os.path.join(self.var_dir, "stack.json")) as f:
            return json.load(f)

    def replica(self, svc, n):
        for r in self.state()["services"][svc]["replicas"]:
            if r["replica"] == n:
                return r
        raise KeyError(f"{svc}#{n}")

    def wait_replica(self, svc, n, pred, timeout=20.0):
        """Poll stack.json until pred(replica) holds; returns the replica dict (or raises)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.replica(svc, n)
                if pred(last):
                    return last
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"{svc}#{n} did not reach the expected state in {timeout}s; last: {last}")

    def supervisor_log(self):
        """keel-stack.log with its rotated files before it (oldest first), so that an offset
        taken earlier still points at the same text after a rotation."""
        base = os.path.join(self.var_dir, "log", "keel-stack.log")
        rotated = sorted(glob.glob(base + ".[0-9]*"), key=lambda p: -int(p.rsplit(".", 1)[1]))
        out = []
        for path in rotated + [base]:
            try:
                with open(path, errors="replace") as f:
                    out.append(f.read())
            except OSError:
                pass
        return "".join(out)

    def access_log_path(self):
        return os.path.join(self.var_dir, "nginx", "access.log")

    def log_tails(self, lines=15):
        out = []
        log_dir = os.path.join(self.var_dir, "log")
        paths = sorted(os.path.join(log_dir, n) for n in (os.listdir(log_dir) if os.path.isdir(log_dir) else []))
        paths += [os.path.join(self.var_dir, "nginx", n) for n in ("error.log", "access.log")]
        for p in paths:
            if not os.path.exists(p):
                continue
            with open(p, errors="replace") as f:
                tail = f.readlines()[-lines:]
            out.append(f"----- {p} (last {len(tail)} lines) -----\n" + "".join(tail))
        return "\n".join(out)

    # -- HTTP ----------------------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, token=None, json_body=None,
                content_type=None, port=None, source_ip=None, timeout=15.0):
        """One request on a fresh connection. json_body: serialised with json.dumps;
        body: bytes/str sent as is (content_type defaults to application/json).
        Raises openapi_check.SpecMismatch (an AssertionError) when the response is not what the
        OpenAPI file of its operation says (/api/... anywhere, /<svc>/internal/... on the
        internal gateway; other paths are not checked)."""
        hdrs = {"User-Agent": "keel-e2e"}
        if json_body is not None:
            body = json.dumps(json_body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None:
            hdrs["Content-Type"] = content_type or "application/json"
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        hdrs.update(headers or {})
        kw = {"source_address": (source_ip, 0)} if source_ip else {}
        conn = http.client.HTTPConnection("127.0.0.1", port or self.gateway_port, timeout=timeout, **kw)
        t0 = time.monotonic()
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            response = Response(r.status, r.reason, r.headers, data, time.monotonic() - t0)
        finally:
            conn.close()
        openapi_check.default_specs().check(method, path, response.status, response.content_type, data,
                                            r.headers, internal=port == self.internal_port)
        return response

    # -- monitoring (Stack(monitoring=True)) --------------------------------------------
    def vm_query(self, expr, timeout=10.0):
        """VictoriaMetrics' instant query: the `result` list ([{metric: {...}, value: [t, "v"]}])."""
        from urllib.parse import quote
        conn = http.client.HTTPConnection("127.0.0.1", self.vm_port, timeout=timeout)
        try:
            conn.request("GET", "/api/v1/query?query=" + quote(expr, safe=""))
            r = conn.getresponse()
            body = r.read()
        finally:
            conn.close()
        if r.status != 200:
            raise AssertionError(f"VictoriaMetrics /api/v1/query {expr!r}: {r.status} {body[:400]!r}")
        data = json.loads(body)
        if data.get("status") != "success":
            raise AssertionError(f"VictoriaMetrics /api/v1/query {expr!r}: {data}")
        return data["data"]["result"]

    def login(self, email, password, **kw):
        self.logins += 1
        return self.request("POST", "/api/auth/login", json_body={"email": email, "password": password}, **kw)

    def register(self, email, password, **kw):
        return self.request("POST", "/api/auth/register", json_body={"email": email, "password": password}, **kw)

    def all_products(self, limit=100, q=None):
        """Walks every page; returns the list of products (raises on a non-200 page)."""
        items, cursor, pages = [], None, 0
        while True:
            path = f"/api/catalog/products?limit={limit}"
            if q is not None:
                from urllib.parse import quote
                path += "&q=" + quote(q, safe="")
            if cursor:
                path += f"&cursor={cursor}"
            r = self.request("GET", path)
            if r.status != 200:
                raise AssertionError(f"GET {path}: {r!r}")
            page = r.json()
            items += page["items"]
            cursor = page["next_cursor"]
            pages += 1
            if cursor is None:
                return items
            if pages > 1000:
                raise AssertionError("pagination does not end")

    @staticmethod
    def pid_alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:  # a zombie is dead for our purposes
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split(") ", 1)[1][0] != "Z"
        except OSError:
            return False
        return True


__all__ = ["Stack", "Response", "free_port", "jwt_parts", "jwt_replace", "b64url", "b64url_decode", "signal"]
