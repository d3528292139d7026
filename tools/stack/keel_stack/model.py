"""Load docker-compose files and build the native run plan from their x-native blocks."""
import os
import re
import shlex

import yaml

from .interp import RUNTIME_VARS, interpolate_tree
from .monitoring import metrics_spec

RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
# keel-stack always activates this profile: services only it runs carry `profiles: [native]`, which
# docker compose leaves out unless asked to.
NATIVE_PROFILE = "native"
_PORT_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


class ConfigError(Exception):
    pass


def parse_duration(v, default):
    """Compose durations: 10s, 1m30s, 500ms, 1h, or a number of seconds."""
    if v is None:
        return default
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).strip()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", s):
        if m.start() != pos:
            break
        pos = m.end()
        total += float(m.group(1)) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}[m.group(2)]
    if pos != len(s) or not s:
        raise ConfigError(f"invalid duration {v!r}")
    return total


def deep_merge(a, b):
    """Merge compose file b over a: mappings merge recursively, everything else is replaced."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = deep_merge(a[k], v) if k in a else v
        return out
    return b


def read_raw(p):
    try:
        with open(p, encoding="utf-8") as f:
            raw = yaml.safe_load(f) or {}
    except OSError as e:
        raise ConfigError(f"cannot read {p}: {e.strerror}")
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML: {e}")
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: top level must be a mapping")
    return raw


def port_names(raw, where=""):
    """Names declared by the x-native `ports` of a raw (not yet interpolated) compose document:
    per-replica variables like ${PORT}, so interpolation must leave them alone."""
    names = set()
    for name, svc in ((raw or {}).get("services") or {}).items():
        xn = (svc or {}).get("x-native") if isinstance(svc, dict) else None
        ports = xn.get("ports") if isinstance(xn, dict) else None
        if ports is None:
            continue
        if not isinstance(ports, dict):
            raise ConfigError(f"{where}services.{name}.x-native.ports: must be a mapping NAME: port|auto")
        for k in ports:
            if not _PORT_NAME.fullmatch(str(k)) or k in RUNTIME_VARS:
                raise ConfigError(f"{where}services.{name}.x-native.ports: invalid name {k!r}")
            names.add(str(k))
    return names


def load_raw(paths):
    """The compose files merged but not interpolated (to tell which variable sets a value)."""
    doc = {}
    for p in paths:
        doc = deep_merge(doc, read_raw(p))
    return doc


def load_files(paths, env):
    """Parse, interpolate and merge compose files."""
    raws = [(p, read_raw(p)) for p in paths]
    keep = set(RUNTIME_VARS)
    for p, raw in raws:
        keep |= port_names(raw, f"{os.path.basename(p)}: ")
    doc = {}
    for p, raw in raws:
        doc = deep_merge(doc, interpolate_tree(raw, env, os.path.basename(p), tuple(sorted(keep))))
    return doc


def _argv(cmd, where):
    if cmd is None:
        return None
    if isinstance(cmd, str):
        return cmd  # run through /bin/sh -c
    if isinstance(cmd, list):
        return [str(x) for x in cmd]
    raise ConfigError(f"{where}: command must be a string or a list")


def _env_map(e, where):
    if e is None:
        return {}
    if isinstance(e, list):
        out = {}
        for item in e:
            if "=" in str(item):
                k, v = str(item).split("=", 1)
                out[k] = v
            else:
                out[str(item)] = None
        return out
    if isinstance(e, dict):
        return {str(k): (None if v is None else (str(v).lower() if isinstance(v, bool) else str(v)))
                for k, v in e.items()}
    raise ConfigError(f"{where}: environment must be a mapping or a list")


def _steps(v, where):
    """init / post_start: list of commands (string = shell, list = argv) or {cmd, creates,
    environment, always}: `environment` is for this step only (e.g. passwords a psql needs and the
    server does not), `always` runs it on every start (no marker)."""
    out = []
    for i, s in enumerate(v or []):
        if isinstance(s, dict):
            unknown = set(s) - {"cmd", "creates", "environment", "always"}
            if unknown or s.get("cmd") is None:
                raise ConfigError(f"{where}[{i}]: a step is a command or {{cmd, creates, environment, always}}"
                                  + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else ""))
            out.append({"cmd": _argv(s.get("cmd"), f"{where}[{i}]"), "creates": s.get("creates"),
                        "environment": _env_map(s.get("environment"), f"{where}[{i}].environment"),
                        "always": not _false(s.get("always", False)) and bool(s.get("always"))})
        else:
            out.append({"cmd": _argv(s, f"{where}[{i}]"), "creates": None, "environment": {}, "always": False})
    return out


def _health(svc, name):
    xn = svc.get("x-native") or {}
    hc = xn.get("healthcheck")
    compose_hc = svc.get("healthcheck") or {}
    if hc in ("none", False) or compose_hc.get("disable"):
        return None
    if hc is None:
        test = compose_hc.get("test")
        if not test:
            return None
        if isinstance(test, str):
            hc = {"cmd": test}
        elif test[0] == "NONE":
            return None
        elif test[0] == "CMD":
            hc = {"cmd": [str(x) for x in test[1:]]}
        elif test[0] == "CMD-SHELL":
            hc = {"cmd": str(test[1])}
        else:
            hc = {"cmd": [str(x) for x in test]}
    if not isinstance(hc, dict) or not any(k in hc for k in ("http", "tcp", "cmd")):
        raise ConfigError(f"services.{name}.x-native.healthcheck: needs http, tcp or cmd")

    def pick(k, d):
        return parse_duration(hc.get(k, compose_hc.get(k)), d)
    out = {k: hc[k] for k in ("http", "tcp", "cmd") if k in hc}
    out["interval"] = pick("interval", 5.0)
    out["timeout"] = pick("timeout", 2.0)
    out["start_period"] = pick("start_period", 0.0)
    out["retries"] = int(hc.get("retries", compose_hc.get("retries", 3)))
    return out


def _port(v, where):
    if v in (None, "", "auto"):
        return None
    try:
        p = int(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: invalid port {v!r}")
    if not 0 < p < 65536:
        raise ConfigError(f"{where}: invalid port {v!r}")
    return p


def _false(v):
    """x-native `enabled` and depends_on `required`: false, or a string an interpolation turned into
    false/0/no/off. Anything else (true, an empty string) is true."""
    return v is False or (isinstance(v, str) and v.strip().lower() in ("false", "0", "no", "off"))


def profiles_of(svc):
    p = svc.get("profiles") or []
    if isinstance(p, str) or not isinstance(p, list):
        raise ConfigError("profiles must be a list of names")
    return [str(x) for x in p]


def profile_active(svc, active):
    """Compose semantics: a service without profiles always runs; one with profiles only when one
    of them is active ("*" activates all)."""
    mine = profiles_of(svc)
    return not mine or "*" in active or any(p in active for p in mine)


class Service:
    def __init__(self, name, svc):
        xn = svc.get("x-native")
        if not isinstance(xn, dict):
            raise ConfigError(f"services.{name}: no x-native block")
        self.name = name
        where = f"services.{name}"
        try:
            self.replicas = int(xn.get("replicas", (svc.get("deploy") or {}).get("replicas", 1)))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: replicas must be a number")
        if self.replicas < 1:
            raise ConfigError(f"{where}: replicas must be at least 1")
        self.command = _argv(xn.get("command"), f"{where}.x-native.command")
        self.nginx = xn.get("nginx")
        self.scrape = xn.get("scrape")   # {template, output}: VictoriaMetrics' targets (monitoring.py)
        if self.scrape is not None and not (isinstance(self.scrape, dict) and self.scrape.get("template")
                                            and self.scrape.get("output")):
            raise ConfigError(f"{where}.x-native.scrape: needs template and output")
        try:
            self.metrics_spec = metrics_spec(name, svc.get("image"), svc.get("x-metrics"))
        except ValueError as e:
            raise ConfigError(str(e))
        if self.command is None and not self.nginx:
            raise ConfigError(f"{where}.x-native: needs a command (or an nginx block)")
        env = _env_map(svc.get("environment"), f"{where}.environment")
        env.update(_env_map(xn.get("environment"), f"{where}.x-native.environment"))
        self.env = env
        dep = xn["depends_on"] if "depends_on" in xn else svc.get("depends_on")
        dep = dep or {}
        if isinstance(dep, list):
            dep = {d: {"condition": "service_started"} for d in dep}
        self.depends_on = {}
        self.optional_deps = set()   # required: false (compose >= 2.20): skipped when not running
        for d, spec in dep.items():
            cond = spec if isinstance(spec, str) else (spec or {}).get("condition", "service_started")
            if cond not in CONDITIONS:
                raise ConfigError(f"{where}.depends_on.{d}: unknown condition {cond}")
            self.depends_on[d] = cond
            if isinstance(spec, dict) and _false(spec.get("required", True)):
                self.optional_deps.add(d)
        self.restart = str(xn.get("restart", svc.get("restart", "no")))
        if self.restart.startswith("on-failure"):
            self.restart = "on-failure"
        if self.restart not in RESTART_POLICIES:
            raise ConfigError(f"{where}.restart: unknown policy {self.restart}")
        sig = str(xn.get("stop_signal", svc.get("stop_signal", "SIGTERM"))).upper()
        self.stop_signal = sig if sig.startswith("SIG") else "SIG" + sig
        self.stop_grace = parse_duration(xn.get("stop_grace_period", svc.get("stop_grace_period")), 10.0)
        self.health = _health(svc, name)
        self.init = _steps(xn.get("init"), f"{where}.x-native.init")
        self.post_start = _steps(xn.get("post_start"), f"{where}.x-native.post_start")
        self.port = _port(xn.get("port"), f"{where}.x-native.port")
        self.ports = {str(k): _port(v, f"{where}.x-native.ports.{k}") for k, v in (xn.get("ports") or {}).items()}
        exports = xn.get("exports") or {}
        if not isinstance(exports, dict):
            raise ConfigError(f"{where}.x-native.exports: must be a mapping NAME: template")
        self.exports = {str(k): str(v) for k, v in exports.items()}
        self.run_as = xn.get("run_as")
        self.data_dir = xn.get("data_dir")
        self.workdir = xn.get("workdir")
        self.urls = [str(u) for u in (xn.get("urls") or [])]

    def label(self, n):
        return f"{self.name}#{n}" if self.replicas > 1 else self.name

    def log_name(self, n):
        return f"{self.name}-{n}.log" if self.replicas > 1 else f"{self.name}.log"


def build_services(doc, profiles=()):
    """The services keel-stack runs: those with an x-native block (not `enabled: false`) whose
    profiles are active. `profiles`: the active ones; NATIVE_PROFILE is always active."""
    active = set(profiles) | {NATIVE_PROFILE}
    services, skipped = {}, {}
    for name, svc in (doc.get("services") or {}).items():
        svc = svc or {}
        try:
            on = profile_active(svc, active)
        except ConfigError as e:
            raise ConfigError(f"services.{name}: {e}")
        if not on:
            skipped[name] = f"its profiles {profiles_of(svc)} are not active"
        elif svc.get("x-native") in (None, False):
            skipped[name] = "it has no x-native block (docker only)"
        elif isinstance(svc.get("x-native"), dict) and _false(svc["x-native"].get("enabled", True)):
            skipped[name] = "its x-native block has enabled: false"
        else:
            services[name] = Service(name, svc)
    exported = {}
    for s in services.values():
        for d in list(s.depends_on):
            if d in services:
                continue
            if d in s.optional_deps:
                del s.depends_on[d]   # compose: required: false tolerates a service that does not run
                continue
            why = f" ({skipped[d]}; add required: false to tolerate that)" if d in skipped else ""
            raise ConfigError(f"services.{s.name}.depends_on: unknown service {d}{why}")
        for u in (s.nginx or {}).get("upstreams", []):
            if u not in services:
                raise ConfigError(f"services.{s.name}.x-native.nginx.upstreams: unknown service {u}")
        for k in s.exports:
            if k in exported:
                raise ConfigError(f"services.{s.name}.x-native.exports: {k} is exported by {exported[k]} too")
            exported[k] = s.name
    return services


def parse_scale(items):
    """`up --scale SVC=N` (repeatable, docker compose's flag) -> {SVC: N}; the last one wins."""
    out = {}
    for item in items or []:
        name, eq, n = str(item).partition("=")
        name = name.strip()
        if not eq or not name:
            raise ConfigError(f"--scale {item}: expected SVC=N")
        try:
            count = int(n)
        except ValueError:
            raise ConfigError(f"--scale {item}: {n!r} is not a number")
        # 0 would leave its dependents and the gateway's upstream without a server: not supported
        if count < 1:
            raise ConfigError(f"--scale {item}: at least 1 replica (stop a service with `keel-stack stop`)")
        out[name] = count
    return out


def apply_scale(doc, scale):
    """Override each scaled service's replica count in the (interpolated) compose document, before
    the services are built: everything that follows the replica count (ports, the gateway's
    upstreams, exports, the PostgreSQL budget, logs, ps/kill/stop/start) then sees it. Like compose,
    --scale wins over deploy.replicas; natively it also wins over x-native.replicas."""
    services = doc.get("services") or {}
    for name, n in scale.items():
        svc = services.get(name)
        if not isinstance(svc, dict):
            raise ConfigError(f"--scale {name}={n}: no service {name} in the compose files")
        xn = svc.get("x-native")
        if isinstance(xn, dict) and "replicas" in xn:
            xn["replicas"] = n
        svc["deploy"] = dict(svc.get("deploy") or {}, replicas=n)


def check_scaled(services, scale):
    """A scaled service that keel-stack does not run (docker only, profile off, enabled: false) is
    a mistake worth an error rather than a silent no-op."""
    for name, n in scale.items():
        if name not in services:
            raise ConfigError(f"--scale {name}={n}: {name} does not run natively here (no x-native block, "
                              "its profiles are not active, or enabled: false)")


def start_order(services):
    """Topological order by depends_on (stable: file order among independent services)."""
    order, state = [], {}

    def visit(n, stack):
        if state.get(n) == "done":
            return
        if state.get(n) == "active":
            raise ConfigError("dependency cycle: " + " -> ".join(stack + [n]))
        state[n] = "active"
        for d in services[n].depends_on:
            visit(d, stack + [n])
        state[n] = "done"
        order.append(n)

    for n in services:
        visit(n, [])
    return order


def command_text(cmd):
    return cmd if isinstance(cmd, str) else " ".join(shlex.quote(c) for c in cmd)
