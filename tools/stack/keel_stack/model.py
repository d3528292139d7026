"""Load docker-compose files and build the native run plan from their x-native blocks."""
import os
import re
import shlex

import yaml

from .interp import interpolate_tree

RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")


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


def load_files(paths, env):
    """Parse, interpolate and merge compose files."""
    doc = {}
    for p in paths:
        try:
            with open(p, encoding="utf-8") as f:
                raw = yaml.safe_load(f) or {}
        except OSError as e:
            raise ConfigError(f"cannot read {p}: {e.strerror}")
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: invalid YAML: {e}")
        if not isinstance(raw, dict):
            raise ConfigError(f"{p}: top level must be a mapping")
        doc = deep_merge(doc, interpolate_tree(raw, env, os.path.basename(p)))
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
    """init / post_start: list of commands (string = shell, list = argv) or {cmd, creates}."""
    out = []
    for i, s in enumerate(v or []):
        if isinstance(s, dict):
            out.append({"cmd": _argv(s.get("cmd"), f"{where}[{i}]"), "creates": s.get("creates")})
        else:
            out.append({"cmd": _argv(s, f"{where}[{i}]"), "creates": None})
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


class Service:
    def __init__(self, name, svc):
        xn = svc.get("x-native")
        if not isinstance(xn, dict):
            raise ConfigError(f"services.{name}: no x-native block")
        self.name = name
        where = f"services.{name}"
        self.replicas = int(xn.get("replicas", (svc.get("deploy") or {}).get("replicas", 1)))
        self.command = _argv(xn.get("command"), f"{where}.x-native.command")
        self.nginx = xn.get("nginx")
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
        for d, spec in dep.items():
            cond = spec if isinstance(spec, str) else (spec or {}).get("condition", "service_started")
            if cond not in CONDITIONS:
                raise ConfigError(f"{where}.depends_on.{d}: unknown condition {cond}")
            self.depends_on[d] = cond
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
        self.port = int(xn["port"]) if xn.get("port") not in (None, "", "auto") else None
        self.run_as = xn.get("run_as")
        self.data_dir = xn.get("data_dir")
        self.workdir = xn.get("workdir")
        self.urls = [str(u) for u in (xn.get("urls") or [])]

    def label(self, n):
        return f"{self.name}#{n}" if self.replicas > 1 else self.name

    def log_name(self, n):
        return f"{self.name}-{n}.log" if self.replicas > 1 else f"{self.name}.log"


def build_services(doc):
    services = {}
    for name, svc in (doc.get("services") or {}).items():
        svc = svc or {}
        if svc.get("x-native") in (None, False) or (svc.get("x-native") or {}).get("enabled") is False:
            continue  # docker-only service
        services[name] = Service(name, svc)
    for s in services.values():
        for d in s.depends_on:
            if d not in services:
                raise ConfigError(f"services.{s.name}.depends_on: unknown service {d}")
        for u in (s.nginx or {}).get("upstreams", []):
            if u not in services:
                raise ConfigError(f"services.{s.name}.x-native.nginx.upstreams: unknown service {u}")
    return services


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
