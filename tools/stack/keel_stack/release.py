"""Releases: every keel service runs a copy of its binary kept under var/releases/<svc>/, not the
build's file itself. So `make build` never changes what runs under a process's feet, a release is
a rolling restart onto a new copy (one replica at a time, each gated on readiness and on its error
rate), and a rollback has the previous binary at hand.

    var/releases/<svc>/<hash>/keel-<svc>   the binary (hash: the first 16 hex of its SHA-256)
    var/releases/<svc>/<hash>/meta.json    hash, commit and build time (`keel-<svc> --version`),
                                           where it came from, when it was stored
    var/releases/<svc>/state.json          {"current": hash, "previous": hash}

A service is managed when its x-native command runs an ELF file inside the repository or
$KEEL_BUILD_DIR (the build's binaries; not nginx, postgres or the Python fakes). `up` stores the
build's binary and makes it current (the previous current becomes `previous`); `release SVC`
stores the build's binary again and rolls onto it; `rollback SVC` rolls onto `previous` and
leaves none (a second rollback is refused until the next release).

The control socket's commands (JSON lines; each answer streams {"msg"} lines, then {"result"}
and {"ok"}): `release {service, build_dir?}`, `rollback {service}`, `releases {service?}` and
`ps {metrics?}` (stack.json's data plus each service's release; with metrics, each running
replica's version, requests and 5xx answers read from its /metrics).

Settings, from keel-stack's environment: KEEL_STACK_RELEASE_READY_TIMEOUT [60] seconds for a
restarted replica to become ready; KEEL_STACK_RELEASE_CHECK_S [3] seconds of watching its error
rate (then until the gateway routes to it again); KEEL_STACK_RELEASE_MAX_ERROR_RATIO [0.05] the
share of 5xx answers that fails it.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request

KEEP = 5                  # stored releases per service (current and previous are always kept)
FAILED_STARTS = 3         # a new binary that exits this many times before ready has failed
VERSION_TIMEOUT = 5.0
SCRAPE_TIMEOUT = 2.0
COMMANDS = ("release", "rollback", "releases", "ps")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _setting(name, default):
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return float(default)


def file_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def binary_version(path):
    """(commit, built) from `keel-<svc> --version` ("keel-catalog 0123abcd4567 built 2026-...");
    ("unknown", "") for a binary that cannot say (an older build, not a keel service)."""
    if not os.path.basename(path).startswith("keel-"):
        return "unknown", ""
    try:
        r = subprocess.run([path, "--version"], stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=VERSION_TIMEOUT, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired):
        return "unknown", ""
    words = r.stdout.decode(errors="replace").split()
    if r.returncode != 0 or len(words) < 2 or not words[0].startswith("keel-"):
        return "unknown", ""
    built = words[3] if len(words) >= 4 and words[2] == "built" else ""
    return words[1], built


# keel-stack's own health checks and scrapes: not traffic, and a draining /readyz answers 503
BUILTIN_ROUTES = ("/healthz", "/readyz", "/metrics")


def parse_metrics(text):
    """From Prometheus text: (version of keel_build_info or None, requests, 5xx answers), the
    counts summed over http_requests_total's routes and methods (not the built-in routes)."""
    version, total, errors = None, 0.0, 0.0
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if not m:
            continue
        name, labels = m.group(1), dict(_LABEL.findall(m.group(2) or ""))
        if name == "keel_build_info":
            version = labels.get("version")
        elif name == "http_requests_total" and labels.get("route") not in BUILTIN_ROUTES:
            try:
                v = float(m.group(3))
            except ValueError:
                continue
            total += v
            if labels.get("status", "").startswith("5"):
                errors += v
    return version, total, errors


def metrics_port(replica):
    """Where a replica serves /metrics: its METRICS_PORT when it has one of its own, else PORT."""
    return replica.ports.get("METRICS_PORT") or replica.port


def scrape(port):
    """A replica's /metrics, parsed (see parse_metrics); None when it does not answer."""
    try:
        with _NO_PROXY.open(f"http://127.0.0.1:{port}/metrics", timeout=SCRAPE_TIMEOUT) as r:
            return parse_metrics(r.read().decode(errors="replace"))
    except Exception:   # refused, reset, timed out, not HTTP at all: no answer
        return None


def error_verdict(before, after, max_ratio):
    """None when the replica's answers between two scrapes are fine, else why not."""
    if before is None or after is None:
        return "its /metrics did not answer"
    total, errors = after[1] - before[1], after[2] - before[2]
    if total > 0 and errors / total > max_ratio:
        return f"{errors:g} of {total:g} requests answered 5xx (more than {max_ratio:.0%})"
    return None


class Releases:
    """Owned by the Supervisor; its methods run on control-socket threads."""

    def __init__(self, sup):
        self.sup = sup
        self.dir = os.path.join(sup.var_dir, "releases")
        self.ready_timeout = _setting("KEEL_STACK_RELEASE_READY_TIMEOUT", 60)
        self.check_s = _setting("KEEL_STACK_RELEASE_CHECK_S", 3)
        self.max_ratio = _setting("KEEL_STACK_RELEASE_MAX_ERROR_RATIO", 0.05)
        self.build = {}      # svc -> the build's binary (as its command names it)
        self.current, self.previous = {}, {}   # svc -> meta
        self.assigned = {}   # (svc, replica) -> meta: what that replica runs (default: current)
        self.busy = {}       # svc -> Lock held while a release or rollback of it runs
        self.lock = threading.Lock()
        # the bot (or any process whose compose environment names it) finds the socket here
        sup.base_env["KEEL_STACK_SOCKET"] = sup.sock_path

    # -- storage -----------------------------------------------------------------------
    def _build_path(self, svc):
        cmd = svc.command
        if not isinstance(cmd, list) or not cmd or svc.nginx:
            return None
        path = os.path.normpath(os.path.join(self.sup.root, cmd[0]))
        build = os.path.join(self.sup.root, self.sup.base_env.get("KEEL_BUILD_DIR") or "build/release")
        inside = [os.path.abspath(d) + os.sep for d in (self.sup.root, build)]
        if not any(path.startswith(d) for d in inside) or not is_elf(path):
            return None
        return path

    def store(self, name, src):
        """Copies src into var/releases/<svc>/<hash>/ (once per content); returns its meta."""
        # Copy first, then hash the copy: a build relinking src meanwhile must not leave one
        # file's content stored under another's hash.
        staging = os.path.join(self.dir, name, f".incoming-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        staged = os.path.join(staging, os.path.basename(src))
        shutil.copyfile(src, staged)
        h = file_hash(staged)
        d = os.path.join(self.dir, name, h)
        meta_path = os.path.join(d, "meta.json")
        if os.path.exists(meta_path):
            shutil.rmtree(staging, ignore_errors=True)
            with open(meta_path) as f:
                return json.load(f)
        tmp = d + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.rename(staging, tmp)
        dst = os.path.join(tmp, os.path.basename(src))
        os.chmod(dst, 0o755)
        commit, built = binary_version(dst)
        meta = {"hash": h, "commit": commit, "built": built, "source": src,
                "stored_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "path": os.path.join(d, os.path.basename(src))}
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        shutil.rmtree(d, ignore_errors=True)
        os.rename(tmp, d)
        return meta

    def _load_meta(self, name, h):
        try:
            with open(os.path.join(self.dir, name, h, "meta.json")) as f:
                return json.load(f)
        except (OSError, ValueError, TypeError):
            return None

    def _save_state(self, name):
        cur, prev = self.current.get(name), self.previous.get(name)
        st = {"current": cur and cur["hash"], "previous": prev and prev["hash"]}
        path = os.path.join(self.dir, name, "state.json")
        with open(path + ".tmp", "w") as f:
            json.dump(st, f)
        os.replace(path + ".tmp", path)
        self._prune(name, {st["current"], st["previous"]})

    def _prune(self, name, keep):
        base = os.path.join(self.dir, name)
        metas = [m for m in (self._load_meta(name, h) for h in os.listdir(base)) if m]
        metas.sort(key=lambda m: m["stored_at"], reverse=True)
        for m in metas[KEEP:]:
            if m["hash"] not in keep:
                shutil.rmtree(os.path.join(base, m["hash"]), ignore_errors=True)

    def adopt(self):
        """At `up`: every managed service runs a stored copy of the build's binary."""
        for name in self.sup.order:
            src = self._build_path(self.sup.services[name])
            if not src:
                continue
            try:
                meta = self.store(name, src)
            except OSError as e:
                self.sup.say(f"{name}: cannot store a release of {src} ({e}); running the build's file")
                continue
            self.build[name] = self.sup.services[name].command[0]
            try:
                with open(os.path.join(self.dir, name, "state.json")) as f:
                    st = json.load(f)
            except (OSError, ValueError):
                st = {}
            self.current[name] = meta
            prev = st.get("previous") if st.get("current") == meta["hash"] else st.get("current")
            self.previous[name] = self._load_meta(name, prev) if prev else None
            self._save_state(name)

    def command(self, replica, cmd):
        """The replica's command with the binary it is assigned (Replica.command calls this)."""
        name = replica.svc.name
        meta = self.assigned.get((name, replica.n)) or self.current.get(name)
        if not meta or not isinstance(cmd, list) or not cmd:
            return cmd
        return [meta["path"]] + list(cmd[1:])

    # -- control socket ------------------------------------------------------------------
    def handle(self, req, out, send):
        """One control-socket command; out(msg) streams a line, send(obj) a JSON object.
        Both may fail when the caller went away: a release goes on to its end regardless."""
        def say(msg):
            try:
                out(msg)
            except OSError:
                pass

        cmd, name = req.get("cmd"), req.get("service")
        if cmd == "ps":
            result = self.ps(bool(req.get("metrics")))
        elif cmd == "releases":
            result = self.listing(name, say)
        else:
            result = self.roll(name, say, rollback=cmd == "rollback", build_dir=req.get("build_dir"))
        try:
            send({"result": result})
        except OSError:
            pass
        return bool(result.get("ok", True))

    def ps(self, metrics):
        data = {"phase": self.sup.phase, "services": {}}
        scrapes = {}
        if metrics:
            # only the released (keel) services: /metrics means nothing to postgres or redis
            running = [r for name in self.current for r in self.sup.replicas[name] if r.state == "running"]
            def read(r):
                scrapes[r.label] = scrape(metrics_port(r))
            threads = [threading.Thread(target=read, args=(r,)) for r in running]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        for name in self.sup.order:
            reps = []
            for r in self.sup.replicas.get(name, []):
                info = r.info()
                meta = self.assigned.get((name, r.n)) or self.current.get(name)
                info["release"] = meta and meta["hash"]
                s = scrapes.get(r.label)
                if s:
                    info["version"], info["requests"], info["errors_5xx"] = s
                reps.append(info)
            data["services"][name] = {"replicas": reps, "managed": name in self.current,
                                      "current": self.current.get(name),
                                      "previous": self.previous.get(name)}
        return data

    def listing(self, name, say):
        names = [name] if name else [n for n in self.sup.order if n in self.current]
        out = {}
        for n in names:
            if n not in self.current:
                say(f"{n} is not a released service")
                return {"ok": False, "error": f"{n} is not a released service"}
            base = os.path.join(self.dir, n)
            metas = sorted((m for m in (self._load_meta(n, h) for h in os.listdir(base)) if m),
                           key=lambda m: m["stored_at"], reverse=True)
            prev = (self.previous.get(n) or {}).get("hash")
            for m in metas:
                mark = "current " if m["hash"] == self.current[n]["hash"] else \
                    "previous" if m["hash"] == prev else "        "
                say(f"{n:<16} {mark} {m['hash']}  commit {m['commit']:<18} stored {m['stored_at']}")
            out[n] = metas
        return {"ok": True, "releases": out}

    # -- rolling ---------------------------------------------------------------------------
    def roll(self, name, say, rollback=False, build_dir=None):
        action = "rollback" if rollback else "release"
        base = {"ok": False, "service": name, "action": action}
        if name not in self.sup.replicas:
            say(f"unknown service {name}")
            return dict(base, outcome="refused", error=f"unknown service {name}")
        if name not in self.current:
            say(f"{name} does not run a binary of the build: nothing to release")
            return dict(base, outcome="refused", error=f"{name} is not a released service")
        with self.lock:
            busy = self.busy.setdefault(name, threading.Lock())
        if not busy.acquire(blocking=False):
            say(f"a release of {name} is already running")
            return dict(base, outcome="refused", error=f"a release of {name} is already running")
        try:
            return self._roll(name, say, rollback, build_dir, base)
        finally:
            busy.release()

    def _target(self, name, rollback, build_dir):
        """(meta to roll onto, None) or (None, why not)."""
        if rollback:
            prev = self.previous.get(name)
            return (prev, None) if prev else (None, f"{name} has no previous release")
        src = os.path.normpath(os.path.join(self.sup.root, self.build[name]))
        if build_dir:
            default = self.sup.base_env.get("KEEL_BUILD_DIR") or "build/release"
            rel = os.path.relpath(src, os.path.normpath(os.path.join(self.sup.root, default)))
            if rel.startswith(".."):
                return None, f"{name}'s binary is not in {default}: cannot find it in {build_dir}"
            src = os.path.normpath(os.path.join(self.sup.root, build_dir, rel))
        if not os.path.isfile(src) or not os.access(src, os.X_OK):
            return None, f"no executable {src}"
        try:
            return self.store(name, src), None
        except OSError as e:
            return None, f"cannot store {src}: {e}"

    def _roll(self, name, say, rollback, build_dir, base):
        old = self.current[name]
        new, why = self._target(name, rollback, build_dir)
        if new is None:
            say(why)
            return dict(base, outcome="refused", error=why)
        result = dict(base, **{"from": _short(old), "to": _short(new)})
        reps = self.sup.replicas[name]
        if any(r.paused for r in reps):
            say(f"{name} is stopped ('keel-stack start {name}' first)")
            return dict(result, outcome="refused", error=f"{name} is stopped")
        if new["hash"] == old["hash"] and all(self.assigned.get((name, r.n), old) is old for r in reps):
            say(f"{name} already runs {new['hash']} (commit {new['commit']})")
            return dict(result, ok=True, outcome="unchanged")
        say(f"{action_word(base['action'])} {name}: {old['hash']} (commit {old['commit']}) -> "
            f"{new['hash']} (commit {new['commit']})")
        switched = []
        for r in reps:
            switched.append(r)
            self.assigned[(name, r.n)] = new
            failure = self._restart(r, say) or self._watch(r, say)
            if failure:
                say(f"{r.label}: {failure}; rolling back to {old['hash']}")
                restored = self._restore(name, switched, old, say)
                return dict(result, outcome="rolled_back" if restored else "failed", error=failure,
                            replica=r.label)
        # After a rollback the release rolled away from is not offered as "previous": a second
        # rollback (two operators in one incident) would put the bad binary back.
        self.previous[name], self.current[name] = (None if rollback else old), new
        for r in reps:
            self.assigned.pop((name, r.n), None)
        self._save_state(name)
        say(f"{name} runs {new['hash']} (commit {new['commit']}) on {len(reps)} replicas")
        return dict(result, ok=True, outcome="released")

    def _restore(self, name, switched, old, say):
        ok = True
        for r in reversed(switched):
            self.assigned[(name, r.n)] = old
            failure = self._restart(r, say)
            if failure:
                say(f"{r.label}: {failure} on the previous binary too")
                ok = False
        for r in switched:
            self.assigned.pop((name, r.n), None)
        say(f"{name} is back on {old['hash']}" if ok else f"{name}: rollback incomplete")
        return ok

    def _restart(self, r, say):
        """Restarts replica r (on whatever it is assigned); None once it is ready, else why not."""
        say(f"restarting {r.label}")
        gen = r.gen
        with r.lock:
            r.restart_now = True
            starts = r.failed_starts
        if r.state == "backoff":
            r.wake.set()
        r.signal_stop(r.svc.stop_grace)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            with r.lock:
                if r.gen > gen and r.healthy.is_set():
                    say(f"{r.label} is ready (pid {r.proc.pid})")
                    return None
                if r.failed_starts - starts >= FAILED_STARTS:
                    return f"exited {r.failed_starts - starts} times before it was ready"
                if r.done.is_set():
                    return "exited and will not be restarted"
            if self.sup.stop_event.is_set():
                return "the stack is stopping"
            if time.monotonic() > deadline:
                return f"not ready after {self.ready_timeout:g}s"
            time.sleep(0.05)

    def _watch(self, r, say):
        """Watches a restarted replica's answers for check_s seconds, then until it is back in
        the rotation: it served requests in the last second, or its siblings served none either
        (no traffic). The gateway marks a replica it could not reach down for a while (nginx:
        fail_timeout, per worker); restarting the next replica before the gateway routes to this
        one again would leave it nothing to route to. None when fine, else why not."""
        before = scrape(metrics_port(r))
        gen, start = r.gen, time.monotonic()
        give_up = start + max(self.check_s, self.ready_timeout)
        siblings = [s for s in self.sup.replicas[r.svc.name] if s is not r]
        mark = (before, [scrape(metrics_port(s)) for s in siblings])
        next_look = start + self.check_s
        while True:
            if r.gen != gen or not r.healthy.is_set():
                return "stopped being ready while it was watched"
            now = time.monotonic()
            if now >= next_look:
                after = scrape(metrics_port(r))
                verdict = error_verdict(before, after, self.max_ratio)
                if verdict is not None:
                    return verdict
                sib = [scrape(metrics_port(s)) for s in siblings]
                served = _delta(mark[0], after) > 0
                others = sum(_delta(a, b) for a, b in zip(mark[1], sib))
                if served or others == 0:
                    say(f"{r.label}: error rate fine over {now - start:.1f}s" +
                        ("" if served else " (no traffic)"))
                    return None
                if now > give_up:
                    return (f"got no requests in {now - start:.0f}s while the other replicas did "
                            "(the gateway does not route to it)")
                mark, next_look = (after, sib), now + 1.0
            time.sleep(0.1)


def _delta(before, after):
    """Requests between two scrapes (0 when either is missing)."""
    return after[1] - before[1] if before and after else 0


def action_word(action):
    return "rolling back" if action == "rollback" else "releasing"


def _short(meta):
    return {"hash": meta["hash"], "commit": meta["commit"], "built": meta.get("built", "")}


# -- command line (keel-stack release / rollback / releases) ------------------------------------
def add_parsers(sub):
    rl = sub.add_parser("release", help="roll a service onto the binary now built, one replica at a "
                        "time (readiness and error-rate gated; rolls back on failure)")
    rl.add_argument("service")
    rl.add_argument("--build-dir", help="take the binary from this build directory instead of "
                    "$KEEL_BUILD_DIR (e.g. build/asan)")
    rb = sub.add_parser("rollback", help="roll a service back onto its previous release")
    rb.add_argument("service")
    ls = sub.add_parser("releases", help="the stored releases of a service (all when no SVC)")
    ls.add_argument("service", nargs="?")


def cli_commands(running_state, control, die):
    def check(args):
        st = running_state(args)
        if args.service and args.service not in st["services"]:
            die(f"unknown service {args.service}")
        return st

    def release(args):
        st = check(args)
        req = {"cmd": "release", "service": args.service}
        if args.build_dir:
            req["build_dir"] = os.path.abspath(args.build_dir)
        return 0 if control(st, req, timeout=None) else 1

    def rollback(args):
        return 0 if control(check(args), {"cmd": "rollback", "service": args.service}, timeout=None) else 1

    def releases(args):
        return 0 if control(check(args), {"cmd": "releases", "service": args.service}) else 1
    return {"release": release, "rollback": rollback, "releases": releases}
