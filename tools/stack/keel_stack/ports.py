"""The fixed ports a stack binds: which they are, the variable that moves each one, whether it is
free, and who holds it when it is not (/proc/net/tcp + /proc/*/fd, else `ss -ltnp`)."""
import os
import re
import socket
import subprocess

from .supervisor import INTERNAL_GATEWAY_PORT

_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
TCP_LISTEN = "0A"


def _var_of(raw_value):
    """The variable a raw (not yet interpolated) compose value takes its port from, e.g.
    '${PG_PORT:-54329}' -> 'PG_PORT'; None for a literal."""
    m = _VAR.search(str(raw_value)) if raw_value is not None else None
    return m.group(1) if m else None


def _raw_native(raw_doc, name):
    svc = ((raw_doc or {}).get("services") or {}).get(name) or {}
    xn = svc.get("x-native") if isinstance(svc, dict) else None
    return svc if isinstance(svc, dict) else {}, xn if isinstance(xn, dict) else {}


class FixedPort:
    def __init__(self, port, owner, var, offset, where):
        self.port, self.owner, self.var, self.offset, self.where = port, owner, var, offset, where

    def source(self):
        """Where the number comes from, e.g. 'NATS_PORT + 1'."""
        if not self.var:
            return self.where
        return self.var + (f" + {self.offset}" if self.offset else "")

    def setting(self):
        """How to move it, e.g. 'set GATEWAY_PORT to use another port'."""
        if not self.var:
            return f"change {self.where} in the compose file to use another port"
        if self.offset:
            return f"set {self.var} to use other ports ({self.owner} uses {self.var} + {self.offset})"
        return f"set {self.var} to use another port"


def fixed_ports(services, order, raw_doc, env):
    """Every port the services bind that is fixed in the model (not chosen free at start):
    x-native `port` and fixed `ports` (replica N: +N-1) and an nginx service's internal server."""
    out = []
    for name in order:
        svc = services[name]
        raw_svc, raw_xn = _raw_native(raw_doc, name)
        if svc.port:
            var = _var_of(raw_xn.get("port"))
            for n in range(1, svc.replicas + 1):
                out.append(FixedPort(svc.port + n - 1, svc.label(n), var, n - 1,
                                     f"services.{name}.x-native.port"))
        for key, base in svc.ports.items():
            if not base:
                continue
            var = _var_of((raw_xn.get("ports") or {}).get(key))
            for n in range(1, svc.replicas + 1):
                out.append(FixedPort(base + n - 1, f"{svc.label(n)} {key.lower().replace('_', ' ')}", var, n - 1,
                                     f"services.{name}.x-native.ports.{key}"))
        if svc.nginx:
            # the supervisor renders ${INTERNAL_GATEWAY_PORT}: the service's environment, else
            # keel-stack's, else 8081 (see Supervisor.prepare_nginx)
            value = svc.env.get("INTERNAL_GATEWAY_PORT") or env.get("INTERNAL_GATEWAY_PORT") or INTERNAL_GATEWAY_PORT
            raw = (raw_xn.get("environment") or {}) if isinstance(raw_xn.get("environment"), dict) else {}
            raw_env = raw_svc.get("environment") if isinstance(raw_svc.get("environment"), dict) else {}
            var = _var_of(raw.get("INTERNAL_GATEWAY_PORT", raw_env.get("INTERNAL_GATEWAY_PORT"))) \
                or "INTERNAL_GATEWAY_PORT"
            try:
                port = int(value)
            except ValueError:
                continue   # nginx -t reports it
            out.append(FixedPort(port, f"{svc.label(1)} internal server", var, 0,
                                 f"services.{name}.x-native.environment.INTERNAL_GATEWAY_PORT"))
    return out


def is_free(port, host="127.0.0.1"):
    """Can a server bind host:port now? SO_REUSEADDR like the servers themselves, so a socket in
    TIME_WAIT does not count; a listener (on host or on every address) does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            text = " ".join(f.read().replace(b"\0", b" ").decode(errors="replace").split())
    except OSError:
        return ""
    return text if len(text) <= 200 else text[:197] + "..."


def _socket_inodes(port):
    """Inodes of the TCP sockets bound to `port` (listeners first, else any)."""
    listening, other = set(), set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10:
                continue
            try:
                lport = int(f[1].rsplit(":", 1)[1], 16)
            except (IndexError, ValueError):
                continue
            if lport == port and f[9] != "0":
                (listening if f[3] == TCP_LISTEN else other).add(f[9])
    return listening or other


def _pids_by_inode(inodes):
    want = {f"socket:[{i}]" for i in inodes}
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in want:
                    pids.append(int(pid))
                    break
            except OSError:
                continue
    return sorted(pids)


def _pids_by_ss(port):
    try:
        r = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({int(p) for p in re.findall(r"pid=(\d+)", r.stdout)})


def holders(port):
    """[(pid, command line)] of the processes holding a TCP socket on `port`; [] if unknown."""
    pids = []
    try:
        inodes = _socket_inodes(port)
        if inodes:
            pids = _pids_by_inode(inodes)
    except OSError:
        pids = []
    if not pids:
        pids = _pids_by_ss(port)
    return [(p, _cmdline(p)) for p in pids]


def describe_holder(port):
    hs = holders(port)
    if not hs:
        return ("held by a process keel-stack cannot identify "
                f"(try: ss -ltnp 'sport = :{port}' as root)")
    shown = ", ".join(f"pid {p}" + (f" ({cmd})" if cmd else "") for p, cmd in hs[:3])
    more = f" and {len(hs) - 3} more" if len(hs) > 3 else ""
    return f"held by {shown}{more}"


def check(services, order, raw_doc, env):
    """Problems (strings) with the fixed ports: used twice by the stack, or already in use."""
    problems = []
    seen = {}
    fixed = fixed_ports(services, order, raw_doc, env)
    for fp in fixed:
        if fp.port in seen:
            other = seen[fp.port]
            problems.append(f"port {fp.port} is configured twice: for {other.owner} ({other.source()}) "
                            f"and for {fp.owner} ({fp.source()}); move one of them")
        else:
            seen[fp.port] = fp
    for port, fp in seen.items():
        if not is_free(port):
            problems.append(f"port {port} ({fp.owner}) is already in use on 127.0.0.1, "
                            f"{describe_holder(port)}; {fp.setting()}")
    return problems
