"""Process supervision: ordered start, health checks, restarts with backoff, ordered stop."""
import contextlib
import hashlib
import json
import os
import pwd
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from . import monitoring
from . import nginx as nginx_render
from . import rotate
from .release import COMMANDS as release_commands, Releases
from .interp import expand_runtime
from .model import command_text

NGINX_BIN = "/usr/sbin/nginx"
INTERNAL_GATEWAY_PORT = "8081"   # ${INTERNAL_GATEWAY_PORT} of the nginx template when not set
# what every process keel-stack starts inherits from keel-stack's environment (besides what its
# compose `environment` names): the system's, never a secret
PASS_THROUGH = frozenset(("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
                          "LD_LIBRARY_PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS",
                          "KEEL_ROOT", "KEEL_VAR_DIR"))
BACKOFF_MIN, BACKOFF_MAX, BACKOFF_RESET_AFTER = 0.1, 5.0, 10.0
# a replica that exits this many times in a row without becoming healthy is failing at start: `up`
# gives up on it (with backoff 0.1, 0.2, 0.4, 0.8 s that is a few seconds, not the whole --timeout).
# KEEL_STACK_CRASH_LOOP_STARTS changes it (the backoff test lets a replica crash on purpose).
CRASH_LOOP_STARTS = int(os.environ.get("KEEL_STACK_CRASH_LOOP_STARTS", "5"))
LOG_TAIL_LINES = 15
START_POLL = 0.1
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port(taken=()):
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p not in taken:
            return p


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def killpg(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def is_root():
    return os.geteuid() == 0


def can_traverse(user, path):
    """Can `user` reach (search) directory `path`?"""
    try:
        pw = pwd.getpwnam(user)
        return subprocess.run(["test", "-x", path], user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except (OSError, KeyError):
        return False


def add_other_x(path, upto):
    """chmod o+x on path and its parents down to (and including) `upto`."""
    path, upto = os.path.abspath(path), os.path.abspath(upto)
    while True:
        try:
            st = os.stat(path)
            os.chmod(path, st.st_mode | 0o001)
        except OSError:
            pass
        if path == upto or path == "/" or not path.startswith(upto):
            return
        path = os.path.dirname(path)


def run_check(hc, rt, env):
    t = hc["timeout"]
    try:
        if "http" in hc:
            url = expand_runtime(str(hc["http"]), rt)
            with _NO_PROXY.open(url, timeout=t) as r:
                return 200 <= r.status < 400
        if "tcp" in hc:
            spec = expand_runtime(str(hc["tcp"]), rt)
            host, _, port = spec.rpartition(":")
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=t):
                return True
        cmd = expand_runtime(hc["cmd"], rt)
        return subprocess.run(["/bin/sh", "-c", cmd] if isinstance(cmd, str) else cmd, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=t).returncode == 0
    except (OSError, urllib.error.URLError, subprocess.TimeoutExpired, ValueError):
        return False


class Replica:
    def __init__(self, sup, svc, n, port):
        self.sup, self.svc, self.n, self.port = sup, svc, n, port
        self.ports = {}   # x-native `ports`: NAME -> port
        self.label = svc.label(n)
        self.instance_id = f"{svc.name}-{n}"
        self.proc = None
        self.gen = 0
        self.state = "created"
        self.health = "starting"
        self.restarts = 0
        self.exit_code = None
        self.failed_starts = 0   # consecutive runs that exited before becoming healthy
        self.last_exit_code = None   # of the last run that ended (exit_code is None while running)
        self.healthy_gen = 0     # the last run (gen) that became healthy
        self.started_at = None
        self.lock = threading.Lock()
        self.healthy = threading.Event()
        self.started = threading.Event()
        self.done = threading.Event()  # monitor loop finished (no more restarts)
        self.wake = threading.Event()
        self.stop_requested = False
        self.restart_now = False
        self.paused = False   # `keel-stack stop SVC`: exited on purpose, until `start SVC`
        self.thread = None
        self.log_path = os.path.join(sup.var_dir, "log", svc.log_name(n))

    def runtime(self):
        rt = {"PORT": self.port, "INSTANCE_ID": self.instance_id, "REPLICA": self.n}
        rt.update(self.ports)
        if self.sup.data_dirs.get(self.svc.name):
            rt["DATA_DIR"] = self.sup.data_dirs[self.svc.name]
        return {k: str(v) for k, v in rt.items() if v is not None}

    def env(self):
        return self.sup.service_env(self.svc, self.runtime())

    def command(self):
        cmd = self.sup.commands.get(self.svc.name) or expand_runtime(self.svc.command, self.runtime())
        return self.sup.releases.command(self, cmd) if self.sup.releases else cmd   # its release's binary

    # -- lifecycle -----------------------------------------------------------------
    def start(self):
        self.thread = threading.Thread(target=self._loop, name=self.label, daemon=True)
        self.thread.start()

    def _loop(self):
        backoff = BACKOFF_MIN
        logf = self.sup.log_file(self.log_path)   # rotated by size, shared with the steps
        try:
            while True:
                if self._wait_while_paused():  # stopped during a restart backoff
                    break
                with self.lock:
                    if self.stop_requested or self.sup.stop_event.is_set():
                        break
                    try:
                        proc = self.sup.spawn(self.svc, self.command(), self.env())
                    except OSError as e:
                        self.sup.say(f"{self.label}: cannot start: {e}")
                        proc = None
                    self.proc = proc
                    self.gen += 1
                    gen = self.gen
                    self.started_at = time.time()
                    self.healthy.clear()
                    if proc:
                        self.state, self.health, self.exit_code = "running", "starting", None
                if proc:
                    self.started.set()
                    self.sup.write_state()
                    pump = threading.Thread(target=self.sup.pump, args=(proc.stdout, logf, self.label), daemon=True)
                    pump.start()
                    threading.Thread(target=self._health_loop, args=(proc, gen), daemon=True).start()
                    rc = proc.wait()
                    killpg(proc.pid, signal.SIGKILL)  # sweep anything left in its process group
                    pump.join(2)
                else:
                    rc = 127
                uptime = time.time() - self.started_at
                with self.lock:
                    self.ever_healthy = getattr(self, "ever_healthy", False) or self.healthy.is_set()
                    if proc and self.healthy_gen == gen:
                        self.failed_starts = 0
                    else:
                        self.failed_starts += 1
                    self.healthy.clear()
                    self.exit_code = self.last_exit_code = rc
                    self.state, self.health = "exited", "-"
                    stopping = self.stop_requested or self.sup.stop_event.is_set()
                    restart_now, self.restart_now = self.restart_now, False
                if stopping:
                    break
                if restart_now:
                    backoff = BACKOFF_MIN
                    continue
                if self._wait_while_paused():
                    break
                if not self.stop_requested and self.state == "stopped":
                    backoff = BACKOFF_MIN
                    continue
                policy = self.svc.restart
                if rc == 2 and not self.ever_healthy:
                    # keel services exit 2 on a bad configuration: restarting cannot help.
                    self.sup.say(f"{self.label} exited with 2 (bad configuration, see {self.log_path}): "
                                 "not restarting")
                    self.sup.write_state()
                    break
                if policy == "no" or (policy == "on-failure" and rc == 0):
                    self.sup.say(f"{self.label} exited with {rc}; restart policy '{policy}': not restarting")
                    self.sup.write_state()
                    break
                if uptime >= BACKOFF_RESET_AFTER:
                    backoff = BACKOFF_MIN
                self.sup.say(f"{self.label} exited with {rc}; restarting in {backoff:.1f}s")
                self.state = "backoff"
                self.sup.write_state()
                self.wake.wait(backoff)
                self.wake.clear()
                backoff = min(backoff * 2, BACKOFF_MAX)
                self.restarts += 1
        finally:
            self.done.set()
            self.sup.write_state()

    def _wait_while_paused(self):
        """While stopped on purpose, wait for `start` (False) or the stack's end (True)."""
        with self.lock:
            if not self.paused:
                return False
            self.state, self.health = "stopped", "-"
        self.sup.write_state()
        while True:
            self.wake.wait()
            self.wake.clear()
            with self.lock:
                if self.stop_requested or self.sup.stop_event.is_set():
                    return True
                if not self.paused:
                    return False

    def _health_loop(self, proc, gen):
        hc = self.svc.health
        if hc is None:
            with self.lock:
                if gen == self.gen:
                    self.health = "none"
                    self.healthy_gen = gen
                    self.healthy.set()
            self.sup.write_state()
            return
        rt, env = self.runtime(), self.env()
        t0, fails, was_healthy = time.monotonic(), 0, False
        while proc.poll() is None:
            ok = run_check(hc, rt, env)
            changed = False
            with self.lock:
                if gen != self.gen or proc.poll() is not None:
                    return
                if ok:
                    fails = 0
                    if self.health != "healthy":
                        self.health, changed = "healthy", True
                        self.healthy_gen = gen
                        self.healthy.set()
                    was_healthy = True
                elif was_healthy or time.monotonic() - t0 > hc["start_period"]:
                    fails += 1
                    if was_healthy and fails >= hc["retries"] and self.health != "unhealthy":
                        self.health, changed = "unhealthy", True
                        self.healthy.clear()
            if changed:
                self.sup.say(f"{self.label} is {self.health}")
                self.sup.write_state()
            deadline = time.monotonic() + (hc["interval"] if was_healthy else START_POLL)
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def signal_stop(self, grace):
        """Send the stop signal to the current process; SIGKILL its group after `grace`."""
        with self.lock:
            proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.send_signal(getattr(signal, self.svc.stop_signal, signal.SIGTERM))
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.sup.say(f"{self.label} did not stop in {grace:g}s; SIGKILL")
            killpg(proc.pid, signal.SIGKILL)
            proc.kill()
            proc.wait()

    def stop(self):
        with self.lock:
            self.stop_requested = True
        self.wake.set()
        self.signal_stop(self.svc.stop_grace)
        if self.thread:
            self.thread.join(self.svc.stop_grace + 5)

    def log_tail(self, n=LOG_TAIL_LINES):
        """The last n lines of this replica's log (from its .1 too, just after a rotation)."""
        return rotate.tail(self.log_path, n)

    def info(self):
        p = self.proc
        return {"replica": self.n, "label": self.label, "instance_id": self.instance_id,
                "pid": p.pid if p and self.state == "running" else None, "port": self.port, "ports": self.ports,
                "state": self.state, "health": self.health, "restarts": self.restarts,
                "failed_starts": self.failed_starts,
                "exit_code": self.exit_code, "started_at": self.started_at, "log": self.log_path}


class Supervisor:
    def __init__(self, services, order, root, var_dir, base_env, echo=True, timeout=120.0, files=(),
                 profiles=()):
        self.services, self.order = services, order
        self.profiles = sorted(profiles)
        self.root, self.var_dir = root, var_dir
        self.base_env = base_env
        self.echo_output = echo
        self.timeout = timeout
        self.files = list(files)
        self.stop_event = threading.Event()
        self.state_lock = threading.Lock()
        self.out_lock = threading.Lock()
        self.replicas = {}
        self.data_dirs = {}
        self.commands = {}
        self.exports = {}
        self.phase = "starting"
        self.waiting = None   # what start_all waits for (shown by `up -d` while it waits)
        self.failure = []     # why the start failed: lines for the user (up -d prints them)
        self.server = None
        self.releases = None   # release.Releases, made by plan()
        self.logs = {}        # path -> rotate.RotatingFile (var/log/<svc>-<N>.log)
        self.extra_logs = {}  # label -> path: files a server writes itself (nginx), for `logs`
        self.echo = rotate.Echo(self._write_out)
        self.out_file = None  # detached: keel-stack.log, rotated too
        self.watcher = rotate.FileWatcher()
        self.state_path = os.path.join(var_dir, "stack.json")
        self.sock_path = os.path.join(var_dir, "stack.sock")

    # -- output --------------------------------------------------------------------
    def say(self, msg):
        self.echo.put("keel-stack", [(msg + "\n").encode()], droppable=False)

    def _emit(self, label, line):
        self.echo.put(label, [line])

    def _write_out(self, data):
        # the only writer of keel-stack's output: the echo thread (see rotate.Echo)
        with self.out_lock:
            if self.out_file is not None:
                self.out_file.write_lines([data])
                return
            try:
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            except (OSError, ValueError):
                pass

    def output_to(self, path):
        """Detached: keel-stack's output goes to `path` (keel-stack.log), rotated like the others;
        after a rotation descriptors 1 and 2 point at the new file (for what Python writes there)."""
        def redirect(fd):
            for target in (1, 2):
                try:
                    os.dup2(fd, target)
                except OSError:
                    pass
        self.out_file = rotate.RotatingFile(path, on_rotate=redirect)

    def log_file(self, path):
        with self.state_lock:
            if path not in self.logs:
                self.logs[path] = rotate.RotatingFile(path).ensure()
            return self.logs[path]

    def watch_server_logs(self, svc, paths):
        """Files svc's server writes itself (nginx: the access log, the error log the template names):
        rotated by the watcher, which then sends SIGUSR1 (nginx reopens its files); listed for `logs`."""
        def pids():
            return [r.proc.pid for r in self.replicas.get(svc.name, []) if r.proc and r.proc.poll() is None]
        for path in paths:
            if path and path != "off" and os.path.isabs(path) and not path.startswith("/dev/"):
                kind = os.path.splitext(os.path.basename(path))[0].replace(".", "-")
                self.extra_logs[f"{svc.name}-{kind}"] = path
                self.watcher.add(path, pids)

    def pump(self, stream, logf, label):
        rotate.pump(stream.fileno(), logf, self.echo if self.echo_output else None, label)
        stream.close()

    # -- environment and processes -------------------------------------------------
    def service_env(self, svc, rt, extra=None):
        """A process's environment: only what it is meant to have, so that a secret reaches only
        the processes whose compose `environment` names it (postgres never sees the bot token).
        That is: a few variables of the system (PASS_THROUGH), the x-native exports (addresses),
        the variables the service's environment names (null: keel-stack's value, when it has one),
        a step's own `environment` (`extra`), and PORT, INSTANCE_ID, REPLICA, DATA_DIR, ports."""
        env = {k: v for k, v in self.base_env.items() if k in PASS_THROUGH or k.startswith("LC_")}
        env.update(self.exports)
        for items in (svc.env, extra or {}):
            for k, v in items.items():
                if v is not None:
                    env[k] = expand_runtime(v, rt)
                elif k in self.base_env:
                    env[k] = self.base_env[k]
        env.update(rt)
        return env

    def spawn(self, svc, cmd, env, stdout=subprocess.PIPE):
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        cwd = os.path.join(self.root, svc.workdir) if svc.workdir else self.root
        kw = {}
        if svc.run_as and is_root():
            pw = pwd.getpwnam(svc.run_as)
            kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            env = dict(env, HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name)
            if not svc.workdir:
                cwd = "/"
        return subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                                stderr=subprocess.STDOUT, start_new_session=True, **kw)

    # -- planning ------------------------------------------------------------------
    def plan(self):
        for d in ("log", "markers"):
            os.makedirs(os.path.join(self.var_dir, d), exist_ok=True)
        if is_root():
            add_other_x(self.var_dir, self.var_dir)
        taken = set()
        for svc in self.services.values():  # fixed ports first, so free ports never collide with them
            for base in [svc.port] + list(svc.ports.values()):
                if base:
                    taken.update(range(base, base + svc.replicas))

        def pick(base, n):
            port = base + n - 1 if base else free_port(taken)
            taken.add(port)
            return port
        for name in self.order:
            svc = self.services[name]
            reps = []
            for n in range(1, svc.replicas + 1):
                r = Replica(self, svc, n, pick(svc.port, n))
                r.ports = {k: pick(base, n) for k, base in svc.ports.items()}
                reps.append(r)
            self.replicas[name] = reps
            if svc.data_dir:
                self.data_dirs[name] = self.prepare_data_dir(svc)
        # x-native exports: every process keel-stack starts gets them (they win over the environment)
        for name in self.order:
            for k, tpl in self.services[name].exports.items():
                vals = []
                for r in self.replicas[name]:
                    v = expand_runtime(tpl, r.runtime())
                    if v not in vals:
                        vals.append(v)
                self.exports[k] = ",".join(vals)
        self.base_env.update(self.exports)
        for name in self.order:
            if self.services[name].nginx:
                self.prepare_nginx(self.services[name])
            if self.services[name].scrape:   # VictoriaMetrics' targets: every replica now has its port
                monitoring.prepare(self, self.services[name])
        self.releases = Releases(self)
        self.releases.adopt()   # the services run stored copies of the build's binaries

    def prepare_data_dir(self, svc):
        path = os.path.abspath(os.path.join(self.root, svc.data_dir))
        user = svc.run_as if (svc.run_as and is_root()) else None
        if os.path.islink(path):
            path = os.path.realpath(path)
        parent = os.path.dirname(path)
        if not os.path.isdir(path):
            os.makedirs(parent, exist_ok=True)
            if user:
                add_other_x(parent, self.var_dir)
            if user and not can_traverse(user, parent):
                # e.g. the repo sits under /root: keep the data in a directory the user can reach
                h = hashlib.sha1(path.encode()).hexdigest()[:10]
                base = f"/var/tmp/keel-stack-{h}"
                os.makedirs(base, exist_ok=True)
                os.chmod(base, 0o711)
                real = os.path.join(base, os.path.basename(path))
                os.makedirs(real, mode=0o700, exist_ok=True)
                pw = pwd.getpwnam(user)
                os.chown(real, pw.pw_uid, pw.pw_gid)
                if not os.path.lexists(path):
                    os.symlink(real, path)
                self.say(f"{svc.name}: {user} cannot reach {parent}; data in {real} (symlinked)")
                return real
            os.makedirs(path, mode=0o700, exist_ok=True)
            if user:
                pw = pwd.getpwnam(user)
                os.chown(path, pw.pw_uid, pw.pw_gid)
        return path

    def prepare_nginx(self, svc):
        conf = svc.nginx
        prefix = os.path.join(self.var_dir, "nginx")
        for d in ("", "logs"):
            os.makedirs(os.path.join(prefix, d), exist_ok=True)
        rep = self.replicas[svc.name][0]
        ups = {u: [r.port for r in self.replicas[u]] for u in conf.get("upstreams", [])}
        # the template sees keel-stack's variables too (GATEWAY_ACCESS_LOG, INTERNAL_GATEWAY_PORT from
        # the environment); nginx's process gets only its service environment
        env = dict(self.base_env)
        env.update(self.service_env(svc, rep.runtime()))
        access = env.get("GATEWAY_ACCESS_LOG") or os.path.join(prefix, "access.log")
        values = {k: v for k, v in env.items() if isinstance(v, str)}
        values["INTERNAL_GATEWAY_PORT"] = env.get("INTERNAL_GATEWAY_PORT") or INTERNAL_GATEWAY_PORT
        values.update({"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": rep.port, "NGINX_PREFIX": prefix,
                       "UPSTREAMS": nginx_render.upstreams_block(ups),
                       "ACCESS_LOG": "off" if access == "off" else f"{access} keel"})
        tpl = os.path.join(self.root, conf["template"])
        with open(tpl, encoding="utf-8") as f:
            text = nginx_render.render(f.read(), values)
        out = os.path.join(prefix, "nginx.conf")
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
        self.watch_server_logs(svc, [access, os.path.join(prefix, "error.log")])
        glob = "daemon off;"
        if is_root() and not can_traverse("nobody", prefix):
            glob += " user root;"
        if svc.command is None:
            self.commands[svc.name] = [conf.get("binary", NGINX_BIN), "-p", prefix, "-c", out, "-g", glob]
        return out

    # -- steps (init / post_start) -------------------------------------------------
    def run_steps(self, svc, kind, steps):
        rep = self.replicas[svc.name][0]
        rt = rep.runtime()
        for step in steps:
            cmd = step["cmd"]
            marker = os.path.join(self.var_dir, "markers", f"{svc.name}.{kind}."
                                  + hashlib.sha1(command_text(cmd).encode()).hexdigest()[:12])
            if step["creates"]:
                if os.path.exists(expand_runtime(step["creates"], rt)):
                    continue
            elif not step.get("always") and os.path.exists(marker):
                continue
            label = f"{svc.name}({kind})"
            self.say(f"{label}: {command_text(cmd)[:120].splitlines()[0]}")
            with contextlib.nullcontext(self.log_file(rep.log_path)) as logf:
                proc = self.spawn(svc, expand_runtime(cmd, rt), self.service_env(svc, rt, step.get("environment")))
                pump = threading.Thread(target=self.pump, args=(proc.stdout, logf, label), daemon=True)
                pump.start()
                while proc.poll() is None:
                    if self.stop_event.wait(0.05):
                        killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
                        return False
                pump.join(2)
            if proc.returncode != 0:
                self.fail([f"{label} failed with exit code {proc.returncode}: {command_text(cmd)[:200]}",
                           f"last lines of {rep.log_path}:"] + [f"  | {line}" for line in rep.log_tail()])
                return False
            with open(marker, "w") as f:
                f.write(command_text(cmd) + "\n")
        return True

    # -- waiting -------------------------------------------------------------------
    def _wait(self, pred, what, on_timeout=None):
        deadline = time.monotonic() + self.timeout
        while not pred():
            if self.stop_event.is_set():
                return False
            if time.monotonic() > deadline:
                self.fail([f"timed out after {self.timeout:g}s waiting for {what}"]
                          + (on_timeout() if on_timeout else []))
                return False
            time.sleep(0.02)
        return True

    def fail(self, lines):
        """Record why the start failed (for `up -d` to print) and say it in the log."""
        if not self.failure:
            self.failure = list(lines)
        self.say("\n".join(lines))

    def _replica_report(self, r, why):
        head = (f"{r.label}: {why} (state {r.state}, last exit code {r.last_exit_code}, "
                f"restarts {r.restarts}); last lines of {r.log_path}:")
        return [head] + [f"  | {line}" for line in r.log_tail()]

    def wait_condition(self, name, cond, completed_ok=False):
        """completed_ok: a replica that ended with exit code 0 counts (a one-shot job that finished
        while `up` waited: its health check may never have run)."""
        reps = self.replicas[name]
        self.waiting = f"{name} ({cond})"
        self.write_state()
        if cond == "service_completed_successfully":
            return self._wait(lambda: all(r.done.is_set() for r in reps), f"{name} to complete") \
                and all(r.exit_code == 0 for r in reps)
        if cond == "service_started":
            return self._wait(lambda: all(r.started.is_set() for r in reps), f"{name} to start")

        class Failed(Exception):
            pass

        def pred():
            for r in reps:
                if r.done.is_set() and not r.healthy.is_set() and not (completed_ok and r.exit_code == 0):
                    raise Failed(self._replica_report(r, "exited and will not be restarted"))
                if r.failed_starts >= CRASH_LOOP_STARTS and not r.healthy.is_set():
                    raise Failed(self._replica_report(
                        r, f"keeps failing at start: exited {r.failed_starts} times in a row "
                           "before it was healthy"))
            return all(r.healthy.is_set() or (completed_ok and r.done.is_set() and r.exit_code == 0) for r in reps)

        def unhealthy():
            return [line for r in reps if not r.healthy.is_set()
                    for line in self._replica_report(r, f"not healthy (health {r.health})")]
        try:
            return self._wait(pred, f"{name} to be healthy", unhealthy)
        except Failed as e:
            self.fail(e.args[0])
            return False

    # -- whole stack ---------------------------------------------------------------
    def start_all(self):
        self.write_state()
        self.watcher.start(self.stop_event)
        for name in self.order:
            svc = self.services[name]
            for dep, cond in svc.depends_on.items():
                if not self.wait_condition(dep, cond):
                    return False
            if self.stop_event.is_set() or not self.run_steps(svc, "init", svc.init):
                return False
            for r in self.replicas[name]:
                r.start()
            if svc.post_start:
                if not self.wait_condition(name, "service_healthy") or \
                        not self.run_steps(svc, "post_start", svc.post_start):
                    return False
        for name in self.order:
            reps = self.replicas[name]
            if all(r.done.is_set() and r.exit_code == 0 for r in reps):
                continue  # a one-shot job that completed
            if not self.wait_condition(name, "service_healthy", completed_ok=True):
                return False
        self.phase = "running"
        self.waiting = None
        self.write_state()
        return True

    def shutdown(self):
        self.phase = "stopping"
        self.stop_event.set()
        self.write_state()
        for name in reversed(self.order):
            reps = [r for r in self.replicas.get(name, []) if r.thread]
            ts = [threading.Thread(target=r.stop, daemon=True) for r in reps]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            if reps:
                self.say(f"stopped {name}")
        self.phase = "stopped"
        self.echo.drain()
        for f in list(self.logs.values()) + [self.out_file]:
            if f:
                f.close()
        if self.server:
            self.server.shutdown()
            self.server.server_close()
        for p in (self.state_path, self.sock_path):
            try:
                os.unlink(p)
            except OSError:
                pass

    def urls(self):
        lines = []
        for name in self.order:
            svc = self.services[name]
            ports = ", ".join(str(r.port) for r in self.replicas[name])
            extra = []
            for u in svc.urls:  # expanded for every replica; distinct results joined with ","
                vals = []
                for r in self.replicas[name]:
                    v = expand_runtime(u, r.runtime())
                    if v not in vals:
                        vals.append(v)
                extra.append(",".join(vals))
            lines.append(f"  {name:<14} port {ports:<14} {'  '.join(extra)}".rstrip())
        return lines

    def pause(self, name, out):
        """`keel-stack stop SVC`: stop every replica and keep it stopped."""
        if name not in self.replicas:
            out(f"unknown service {name}")
            return False
        for r in self.replicas[name]:
            with r.lock:
                r.paused = True
            r.wake.set()
            r.signal_stop(r.svc.stop_grace)
            if not self._wait(lambda: r.state == "stopped", f"{r.label} to stop"):
                out(f"{r.label} did not stop")
                return False
            out(f"{r.label} stopped")
        return True

    def resume(self, name, out):
        """`keel-stack start SVC`: start the replicas `stop` stopped, wait until healthy."""
        if name not in self.replicas:
            out(f"unknown service {name}")
            return False
        for r in self.replicas[name]:
            gen = r.gen
            with r.lock:
                was = r.paused
                r.paused = False
            r.wake.set()
            if was and not self._wait(lambda: r.gen > gen and r.healthy.is_set(), f"{r.label} to be healthy"):
                out(f"{r.label} did not become healthy")
                return False
            out(f"{r.label} is running")
        return True

    def rolling_restart(self, name, out):
        if name not in self.replicas:
            out(f"unknown service {name}")
            return False
        for r in self.replicas[name]:
            out(f"restarting {r.label}")
            gen = r.gen
            with r.lock:
                r.restart_now = True
            if r.state == "backoff":
                r.wake.set()
            r.signal_stop(r.svc.stop_grace)
            if not self._wait(lambda: r.gen > gen and r.healthy.is_set(), f"{r.label} to be healthy"):
                out(f"{r.label} did not become healthy")
                return False
            out(f"{r.label} is healthy (pid {r.proc.pid})")
        return True

    # -- state file and control socket ---------------------------------------------
    def write_state(self):
        data = {"supervisor_pid": os.getpid(), "phase": self.phase, "root": self.root,
                "var_dir": self.var_dir, "files": self.files, "profiles": self.profiles,
                "socket": self.sock_path, "order": self.order, "exports": self.exports,
                "waiting_for": self.waiting, "logs": self.extra_logs, "services": {}}
        for name in self.order:
            svc = self.services[name]
            data["services"][name] = {"restart": svc.restart, "stop_grace": svc.stop_grace,
                                      "replicas": [r.info() for r in self.replicas.get(name, [])]}
        with self.state_lock:
            if self.phase == "stopped":
                return
            tmp = self.state_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(data, f, indent=1)
            os.replace(tmp, self.state_path)

    def serve_control(self):
        sup = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                try:
                    req = json.loads(self.rfile.readline() or b"{}")
                except ValueError:
                    return

                def out(msg):
                    send({"msg": msg})

                def send(obj):
                    self.wfile.write((json.dumps(obj) + "\n").encode())
                    self.wfile.flush()
                cmd = req.get("cmd")
                if cmd == "stop":
                    sup.stop_event.set()
                    ok = True
                elif cmd == "restart":
                    ok = sup.rolling_restart(req.get("service"), out)
                elif cmd == "pause":
                    ok = sup.pause(req.get("service"), out)
                elif cmd == "resume":
                    ok = sup.resume(req.get("service"), out)
                elif sup.releases and cmd in release_commands:   # release.py
                    ok = sup.releases.handle(req, out, send)
                else:
                    out(f"unknown command {cmd}")
                    ok = False
                self.wfile.write((json.dumps({"ok": ok}) + "\n").encode())

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        if len(self.sock_path) > 100:
            return
        try:
            os.unlink(self.sock_path)
        except OSError:
            pass
        self.server = Server(self.sock_path, Handler)
        os.chmod(self.sock_path, 0o600)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
