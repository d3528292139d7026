"""The lab's own keel stack: tools/stack/keel-stack in a temporary var dir on free ports, started
again (same var dir, so the database and the load users survive) whenever an experiment needs
other replica counts or other resilience switches."""
import json
import os
import socket
import threading

import yaml

from .runner import REPO, LabError

KEEL_STACK = os.path.join(REPO, "tools", "stack", "keel-stack")
PG_RESERVED = 10          # db.yaml's PG_RESERVED_CONNECTIONS default
PG_MAX_DEFAULT = 200      # db.yaml's PG_MAX_CONNECTIONS default
RESTOCK = 1000000000      # units of every product: more than any lab orders
# The switches the services read (issue 9 part A); the lab passes them through keel-stack's
# environment, and app.yaml's service environment must name them for them to arrive.
SWITCHES = ("OVERLOAD_CONTROL", "BREAKERS")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_env_file(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, eq, v = line.strip().partition("=")
                if eq and not k.startswith("#"):
                    out[k] = v
    except OSError:
        pass
    return out


class LabStack:
    def __init__(self, rec, build_dir, var_dir):
        self.rec, self.var_dir = rec, var_dir
        self.gateway_port, self.internal_port = free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items() if k not in (
            "KEEL_SERVICE_TOKEN", "AUTH_ADMIN_PASSWORD", "COMPOSE_PROFILES", "NATS_URL", "TELEGRAM_API_BASE",
            "TELEGRAM_BOT_TOKEN", "BUS_REPLICAS", "PG_POOL_SIZE", "PG_MAX_CONNECTIONS") + SWITCHES}
        # Not secrets; listed in the report as the stack's settings.
        self.settings = {
            "KEEL_VAR_DIR": var_dir, "KEEL_BUILD_DIR": build_dir,
            # the monitoring layer would bind its fixed ports and take CPU from the measurements
            "KEEL_MONITORING": "off",
            "GATEWAY_PORT": self.gateway_port, "GATEWAY_TLS_PORT": free_port(),
            "INTERNAL_GATEWAY_PORT": self.internal_port, "PG_PORT": free_port(), "REDIS_PORT": free_port(),
            "NATS_PORT": free_port(), "NATS_MONITOR_PORT": free_port(),
            # per-request logging is not what is measured: off on the gateway and the services
            "GATEWAY_ACCESS_LOG": "off", "ACCESS_LOG": "false", "LOG_LEVEL": "warn",
            # the load users register and log in from loopback; auth's limits are for the world
            "REGISTER_LIMIT_PER_IP": "1000000", "LOGIN_LIMIT_PER_IP": "1000000",
            "LOGIN_LIMIT_PER_ACCOUNT": "1000000",
        }
        self.env.update({k: str(v) for k, v in self.settings.items()})
        self.running = None       # (counts, switches) of the stack that runs
        self.token = None
        self.up_seconds = []
        self._plans = {}

    @property
    def url(self):
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def internal_url(self):
        return f"http://127.0.0.1:{self.internal_port}"

    def _argv(self, *args):
        return [KEEL_STACK, "--var-dir", self.var_dir, *args]

    @staticmethod
    def _scale_args(scale):
        out = []
        for svc, n in sorted(scale.items()):
            out += ["--scale", f"{svc}={n}"]
        return out

    def prepare(self):
        """The stack's secrets (var/secrets.env), which `config` needs to interpolate the files."""
        self.rec.run(self._argv("secrets"), "generate the stack's secrets", env=self.env, timeout=60)
        for k, v in read_env_file(os.path.join(self.var_dir, "secrets.env")).items():
            self.rec.secret(k, v)

    def plan(self, scale):
        key = tuple(sorted(scale.items()))
        if key not in self._plans:
            self._plans[key] = self._plan(scale)
        return self._plans[key]

    def _plan(self, scale):
        """Replica counts with `scale` applied, and the PostgreSQL max_connections those need
        (keel-stack refuses pools that do not fit; the lab raises the server's limit rather than
        shrinking the pools it measures)."""
        p = self.rec.run(self._argv("config", *self._scale_args(scale)), "keel-stack config",
                         env=dict(self.env, PG_MAX_CONNECTIONS="100000"), timeout=60)
        doc = yaml.safe_load(p.stdout.partition("\n# profiles: ")[0]) or {}
        counts, need = {}, PG_RESERVED
        for name, svc in (doc.get("services") or {}).items():
            xn = svc.get("x-native") if isinstance(svc, dict) else None
            if not isinstance(xn, dict):
                continue
            n = int(xn.get("replicas", (svc.get("deploy") or {}).get("replicas", 1)))
            counts[name] = n
            env = dict(svc.get("environment") or {}, **(xn.get("environment") or {}))
            if "PG_DSN" in env:
                need += n * int(env.get("PG_POOL_SIZE") or 16)
        return counts, max(PG_MAX_DEFAULT, need)

    def ensure(self, scale=None, switches=None):
        """A stack with these replica counts (compose's, overridden by scale) and switches; started
        only when the running one differs."""
        scale = dict(scale or {})
        switches = {k: (switches or {}).get(k, "on") for k in SWITCHES}
        counts, pg_max = self.plan(scale)
        if self.running == (counts, switches):
            return False
        self.down()
        extra = dict(switches, PG_MAX_CONNECTIONS=str(pg_max))
        argv = self._argv("up", "-d", "--quiet", "--timeout", "240", *self._scale_args(scale))
        self.rec.say(f"stack: up {' '.join(self._scale_args(scale))} {switches}")
        self.rec.run(argv, "start the stack", env=dict(self.env, **extra), env_note=extra, timeout=600)
        self.up_seconds.append(self.rec.commands[-1]["seconds"])
        self.running = (counts, switches)
        secrets = read_env_file(os.path.join(self.var_dir, "secrets.env"))
        self.token = secrets.get("KEEL_SERVICE_TOKEN")
        for k, v in secrets.items():
            self.rec.secret(k, v)
        self.restock(secrets.get("CATALOG_DB_PASSWORD"))
        return True

    def restock(self, password):
        """The seed's stock (25 to 1000 a product) runs out after a few thousand orders, and every
        later order would be cancelled instead of confirmed: a different saga than the one the lab
        means to measure. Reservations read the database, so it is raised there."""
        psql = os.path.join(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"), "psql")
        note = {"PGHOST": "127.0.0.1", "PGPORT": str(self.settings["PG_PORT"]), "PGDATABASE": "catalog",
                "PGUSER": "catalog"}
        self.rec.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", f"UPDATE products SET stock = {RESTOCK}"],
                     "restock the catalog", env=dict(self.env, PGPASSWORD=password or "", **note),
                     env_note=note, timeout=60)

    def down(self):
        if self.running is not None:
            self.rec.run(self._argv("down"), "stop the stack", env=self.env, timeout=300, check=False)
            self.running = None

    def ps(self):
        p = self.rec.run(self._argv("ps", "--json"), env=self.env, timeout=30, check=False)
        try:
            st = json.loads(p.stdout)
        except ValueError:
            raise LabError(f"keel-stack ps --json: {p.stderr.strip()}")
        return st

    def ps_quiet(self):
        """ps without recording (polled many times a second while waiting for a replica)."""
        import subprocess
        p = subprocess.run(self._argv("ps", "--json"), env=self.env, capture_output=True, text=True, timeout=30)
        return json.loads(p.stdout or "{}")

    def replicas(self, svc, st=None):
        st = st or self.ps_quiet()
        return ((st.get("services") or {}).get(svc) or {}).get("replicas") or []

    def processes(self):
        """{label: pid} of every running replica (postgres, nginx: their master)."""
        st = self.ps_quiet()
        out = {}
        for name in st.get("order", []):
            for r in st["services"][name]["replicas"]:
                if r.get("pid"):
                    out[r["label"]] = r["pid"]
        return out

    def kill(self, target, sig="KILL"):
        self.rec.run(self._argv("kill", "-s", sig, target), f"signal {sig} to {target}", env=self.env, timeout=30)

    def stop(self, svc):
        self.rec.run(self._argv("stop", svc), f"stop {svc}", env=self.env, timeout=120)

    def start_async(self, svc):
        """`keel-stack start SVC` waits until healthy; the experiments go on meanwhile."""
        t = threading.Thread(target=self.rec.run, args=(self._argv("start", svc), f"start {svc}"),
                             kwargs={"env": self.env, "timeout": 300, "check": False}, daemon=True)
        t.start()
        return t

    def switch_reached(self, name, svc="orders"):
        """Whether `name` is in the environment of a running replica of svc (app.yaml must name it)."""
        for r in self.replicas(svc):
            if r.get("pid"):
                try:
                    with open(f"/proc/{r['pid']}/environ", "rb") as f:
                        return any(x.startswith(name.encode() + b"=") for x in f.read().split(b"\0"))
                except OSError:
                    return None
        return None
