"""keel-stack command line."""
import argparse
import fcntl
import json
import os
import secrets
import select
import signal
import socket
import string
import sys
import time

import yaml

from . import budget, model, monitoring, ports, release
from .interp import InterpolationError, interpolate, parse_env_file
from .supervisor import Supervisor, killpg, pid_alive
from . import logcli

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
# the seed's layers: data, monitoring (KEEL_MONITORING=off leaves it out), the services
DEFAULT_FILES = ["deploy/compose/db.yaml", "deploy/compose/monitoring.yaml", "deploy/compose/app.yaml"]


PROGRESS_EVERY = 15.0   # up -d: seconds between "still starting" lines while it waits


def die(msg, code=1):
    print(f"keel-stack: {msg}", file=sys.stderr)
    sys.exit(code)


def drop_stdout():
    """Whoever read stdout went away (keel-stack ps | head): send the rest to /dev/null, so that
    neither the next write nor the flush at exit raises again."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError):
        pass


def out(text=""):
    """print() for commands that must finish their work even when stdout is a closed pipe."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        drop_stdout()


def parse_args(argv):
    p = argparse.ArgumentParser(prog="keel-stack", description="Run the keel system natively "
                                "from docker-compose files (their x-native blocks).")
    p.add_argument("-f", "--file", action="append", dest="files", metavar="FILE",
                   help="compose file (repeatable; default: deploy/compose/db.yaml, monitoring.yaml and app.yaml)")
    p.add_argument("--var-dir", help="state directory (default $KEEL_VAR_DIR or <repo>/var)")
    p.add_argument("--env-file", action="append", default=[], help="KEY=VALUE file for interpolation")
    p.add_argument("--profile", action="append", default=[], dest="profiles", metavar="NAME",
                   help="activate a compose profile (repeatable; default: $COMPOSE_PROFILES)")
    p.add_argument("--root", default=ROOT, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start everything (foreground unless -d)")
    up.add_argument("--profile", action="append", default=[], dest="sub_profiles", metavar="NAME",
                    help="activate a compose profile (repeatable; default: $COMPOSE_PROFILES)")
    up.add_argument("-d", "--detach", action="store_true", help="run the supervisor in the background")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for health (default 120)")
    up.add_argument("--quiet", action="store_true", help="do not echo service output to the terminal")
    up.add_argument("--scale", action="append", default=[], metavar="SVC=N",
                    help="run N replicas of SVC instead of its deploy.replicas (repeatable)")
    sub.add_parser("down", help="stop a running stack")
    ps = sub.add_parser("ps", help="services, replicas, pids, ports, health")
    ps.add_argument("--json", action="store_true")
    logcli.add_parsers(sub)   # logs, trace (logcli.py)
    rs = sub.add_parser("restart", help="restart a service's replicas one at a time")
    rs.add_argument("service")
    sp = sub.add_parser("stop", help="stop a service's replicas and keep them stopped (until start)")
    sp.add_argument("service")
    sa = sub.add_parser("start", help="start a service stopped with stop, wait until healthy")
    sa.add_argument("service")
    k = sub.add_parser("kill", help="send a signal (default SIGKILL) to SVC or one replica SVC#N")
    k.add_argument("target")
    k.add_argument("-s", "--signal", default="SIGKILL")
    sub.add_parser("secrets", help="generate the x-secrets persist values into var/secrets.env "
                   "(if missing) and print its path (docker compose --env-file)")
    cf = sub.add_parser("config", help="print the interpolated, merged compose model")
    cf.add_argument("--profile", action="append", default=[], dest="sub_profiles", metavar="NAME",
                    help="activate a compose profile (repeatable; default: $COMPOSE_PROFILES)")
    cf.add_argument("--scale", action="append", default=[], metavar="SVC=N",
                    help="as with up: show the model with N replicas of SVC")
    sc = sub.add_parser("scrape-config", help="print VictoriaMetrics' scrape config for docker compose "
                        "(deploy/monitoring/scrape/docker.yml) generated from the compose files")
    sc.add_argument("--docker", action="store_true", required=True,
                    help="the docker variant (natively `up` renders var/monitoring/promscrape.yml)")
    release.add_parsers(sub)   # release, rollback, releases (release.py)
    return p.parse_args(argv)


def resolve(args):
    root = os.path.abspath(args.root)
    var_dir = args.var_dir or os.environ.get("KEEL_VAR_DIR") or os.path.join(root, "var")
    var_dir = os.path.abspath(os.path.join(root, var_dir))
    files = [os.path.abspath(f) for f in args.files] if args.files else \
        [os.path.join(root, f) for f in DEFAULT_FILES]
    return root, var_dir, files


def read_secrets(path):
    return parse_env_file(path) if os.path.exists(path) else {}


def active_profiles(args, env):
    """--profile (global or after up/config), else COMPOSE_PROFILES (environment or --env-file),
    like docker compose. keel-stack adds model.NATIVE_PROFILE itself."""
    given = list(args.profiles) + list(getattr(args, "sub_profiles", None) or [])
    if not given:
        given = (env.get("COMPOSE_PROFILES") or "").split(",")
    out = []
    for p in given:
        p = p.strip()
        if p and p not in out:
            out.append(p)
    return out


def new_secret(length=40):
    """A generated secret: letters and digits, a letter first (about 238 bits). Safe unquoted in a
    libpq DSN, a redis or nats config (nats reads `password: $VAR` as a token: one starting with a
    digit would become a number), a URL and a shell word."""
    letters = string.ascii_letters
    alphabet = letters + string.digits
    return secrets.choice(letters) + "".join(secrets.choice(alphabet) for _ in range(length - 1))


def make_env(args, root, var_dir, files, generate=False):
    """Interpolation env: os.environ > --env-file > x-profiles of the active profiles >
    var/secrets.env; plus KEEL_ROOT, KEEL_VAR_DIR. Returns (env, once-generated secrets, profiles).
    With generate=True the x-secrets of the files are created: `persist` ones into
    var/secrets.env (mode 600), `once` ones only on the very first start (never stored)."""
    env = {}
    sec_path = os.path.join(var_dir, "secrets.env")
    env.update(read_secrets(sec_path))
    given = {}
    for f in args.env_file:
        try:
            given.update(parse_env_file(f))
        except (OSError, ValueError) as e:
            die(f"env file: {e}", 2)
    given.update(os.environ)
    env.update(given)
    env["KEEL_ROOT"], env["KEEL_VAR_DIR"] = root, var_dir
    profiles = active_profiles(args, env)
    once_generated = {}
    persist, once = [], []
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                raw = yaml.safe_load(fh) or {}
        except (OSError, yaml.YAMLError):
            continue  # reported by load_files
        if not isinstance(raw, dict):
            continue
        xs = raw.get("x-secrets") or {}
        persist += xs.get("persist") or []
        once += xs.get("once") or []
        # x-profiles: {PROFILE: {VAR: value}}: defaults while PROFILE is active; what the
        # environment or an --env-file sets still wins
        xp = raw.get("x-profiles") or {}
        for prof in profiles:
            for k, v in (xp.get(prof) or {}).items():
                if k not in given:
                    try:
                        env[k] = interpolate("" if v is None else str(v), env, f"x-profiles.{prof}.{k}")
                    except InterpolationError as e:
                        die(str(e), 2)
    if generate:
        new = {k: new_secret() for k in persist if k not in env}
        if new:
            os.makedirs(var_dir, exist_ok=True)
            fd = os.open(sec_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as fh:
                for k, v in new.items():
                    fh.write(f"{k}={v}\n")
            env.update(new)
        for k in once:
            marker = os.path.join(var_dir, "markers", f"secret.{k}")
            if k not in env and not os.path.exists(marker):
                once_generated[k] = env[k] = secrets.token_urlsafe(18)
    return env, once_generated, profiles


def load(args, generate=False):
    root, var_dir, files = resolve(args)
    env, once, profiles = make_env(args, root, var_dir, files, generate)
    try:
        doc = model.load_files(files, env)
        scale = model.parse_scale(getattr(args, "scale", None))
        model.apply_scale(doc, scale)
        services = model.build_services(doc, profiles)
        model.check_scaled(services, scale)
        order = model.start_order(services)
    except InterpolationError as e:
        die(str(e), 2)
    except model.ConfigError as e:
        die(str(e), 2)
    return root, var_dir, files, env, once, doc, services, order, profiles


def read_state(var_dir):
    try:
        with open(os.path.join(var_dir, "stack.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def control(state, req, timeout=300):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(state["socket"])
    s.sendall((json.dumps(req) + "\n").encode())
    f = s.makefile("rb")
    ok = False
    for line in f:
        msg = json.loads(line)
        if "msg" in msg:
            out(msg["msg"])
        if "ok" in msg:
            ok = msg["ok"]
    s.close()
    return ok


# -- up ------------------------------------------------------------------------------
def cmd_up(args):
    root, var_dir, files, env, once, doc, services, order, profiles = load(args, generate=True)
    os.makedirs(os.path.join(var_dir, "log"), exist_ok=True)
    lock_fd = os.open(os.path.join(var_dir, "stack.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        st = read_state(var_dir) or {}
        die(f"a stack is already running with var dir {var_dir} (pid {st.get('supervisor_pid')})")
    os.set_inheritable(lock_fd, False)
    stale = read_state(var_dir)
    killed = False
    if stale:  # a supervisor died without cleaning up: do not leave its children running
        for sv in stale.get("services", {}).values():
            for r in sv.get("replicas", []):
                if r.get("pid") and pid_alive(r["pid"]):
                    print(f"keel-stack: killing leftover {r['label']} (pid {r['pid']})", file=sys.stderr)
                    killpg(r["pid"], signal.SIGKILL)
                    killed = True
    raw = model.load_raw(files)
    check_budget(doc, raw, services, order, env)
    check_ports(services, order, raw, env, settle=3.0 if killed else 0.0)
    base_env = dict(env)
    if not args.detach:
        sup = Supervisor(services, order, root, var_dir, base_env, echo=not args.quiet,
                         timeout=args.timeout, files=files, profiles=profiles)
        return supervise(sup, once, var_dir, notify=None, walkthrough=doc.get("x-walkthrough"))
    r, w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(w)
        os.close(lock_fd)
        try:
            msg = await_supervisor(r, pid, var_dir)
        except KeyboardInterrupt:
            print("\nkeel-stack: no longer waiting; the stack goes on starting in the background "
                  "('keel-stack ps' to watch it, 'keel-stack down' to stop it)", file=sys.stderr)
            return 130
        for line in msg.get("lines", []):
            out(line)
        if not msg.get("ok"):
            for line in msg.get("error", []):
                print(f"keel-stack: {line}", file=sys.stderr)
            print(f"keel-stack: start failed, everything stopped; full log: "
                  f"{os.path.join(var_dir, 'log', 'keel-stack.log')}", file=sys.stderr)
            return 1
        return 0
    # first child: new session, fork again so the supervisor is not a session leader
    os.close(r)
    os.setsid()
    if os.fork():
        os._exit(0)
    # A daemon keeps none of its caller's descriptors: an inherited lock (`flock build.lock make test`)
    # or pipe ($(keel-stack up -d)) would otherwise stay held until `down`.
    for name in os.listdir("/proc/self/fd"):
        if int(name) not in (0, 1, 2, w, lock_fd):
            try:
                os.close(int(name))
            except OSError:
                pass
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    logfd = os.open(os.path.join(var_dir, "log", "keel-stack.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(logfd, 1)
    os.dup2(logfd, 2)
    os.close(devnull)
    os.close(logfd)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    code = 1
    try:
        sup = Supervisor(services, order, root, var_dir, base_env, echo=True, timeout=args.timeout, files=files,
                         profiles=profiles)
        sup.output_to(os.path.join(var_dir, "log", "keel-stack.log"))
        code = supervise(sup, once, var_dir, notify=w, walkthrough=doc.get("x-walkthrough"))
    finally:
        os._exit(code)


def check_budget(doc, raw, services, order, env):
    """Exit 2 before anything starts when the services' PostgreSQL pools cannot fit."""
    try:
        problem = budget.check(doc, raw, services, order, env)
    except model.ConfigError as e:
        die(str(e), 2)
    if problem:
        print(f"keel-stack: {problem}", file=sys.stderr)
        die("nothing was started", 2)


def check_ports(services, order, raw, env, settle=0.0):
    """Exit 2 before anything starts when a fixed port is taken (or configured twice). `settle`:
    seconds to wait for ports to be released (after leftovers of a crashed stack were killed)."""
    deadline = time.monotonic() + settle
    while True:
        problems = ports.check(services, order, raw, env)
        if not problems or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if problems:
        for p in problems:
            print(f"keel-stack: {p}", file=sys.stderr)
        die("nothing was started", 2)


def await_supervisor(r, pid, var_dir):
    """up -d: read the detached supervisor's report from pipe r; meanwhile say every
    PROGRESS_EVERY seconds what it waits for. After a failure, wait until it has stopped
    everything (so that the next `up` does not find it still running)."""
    t0 = time.monotonic()
    data = b""
    while True:
        ready, _, _ = select.select([r], [], [], PROGRESS_EVERY)
        if not ready:
            print(f"keel-stack: still starting after {time.monotonic() - t0:.0f}s: {progress(var_dir)}",
                  file=sys.stderr, flush=True)
            continue
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    try:
        msg = json.loads(data or b"{}")
    except ValueError:
        msg = {}
    if not msg.get("ok"):
        sup = msg.get("pid")
        deadline = time.monotonic() + 120
        while sup and pid_alive(sup) and time.monotonic() < deadline:
            time.sleep(0.05)
    return msg


def progress(var_dir):
    """What a starting stack waits for, from its stack.json."""
    st = read_state(var_dir)
    if not st:
        return "preparing"
    parts = []
    for name in st.get("order", []):
        for r in st["services"][name]["replicas"]:
            if r["state"] == "created" or r["health"] in ("healthy", "none"):
                continue
            extra = f", {r['restarts']} restarts" if r.get("restarts") else ""
            parts.append(f"{r['label']} {r['state']}/{r['health']}{extra}")
    waiting = st.get("waiting_for")
    return (f"waiting for {waiting}" if waiting else "starting") + (f"; {', '.join(parts)}" if parts else "")


def supervise(sup, once, var_dir, notify, walkthrough=None):
    def on_signal(signum, frame):
        sup.stop_event.set()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN if notify is not None else on_signal)
    lines = []
    ok = False
    try:
        sup.plan()
        sup.serve_control()
        ok = sup.start_all()
    except Exception as e:  # report, then stop whatever started
        sup.fail([f"error: {e!r}"])
        ok = False
    if ok:
        lines = ["keel-stack: everything is healthy"] + sup.urls()
        for k, v in once.items():
            lines.append(f"{k.lower().replace('_', ' ')}: {v}   (shown once; not stored)")
            with open(os.path.join(var_dir, "markers", f"secret.{k}"), "w") as f:
                f.write("generated\n")
        if walkthrough:
            lines.append(walkthrough.rstrip())
        if notify is None:
            with sup.out_lock:
                out("\n".join(lines))
        else:
            sup.say("\n".join(lines[:1] + sup.urls()))
    if notify is not None:
        report = {"ok": ok, "lines": lines, "error": [] if ok else sup.failure, "pid": os.getpid()}
        try:
            os.write(notify, json.dumps(report).encode())
        except OSError:
            pass   # the `up -d` that waited for it is gone
        os.close(notify)
    if ok:
        while not sup.stop_event.wait(0.5):
            pass
        sup.say("stopping")
    else:
        sup.say("start failed; stopping")
    sup.shutdown()
    return 0 if ok else 1


# -- other commands --------------------------------------------------------------------
def cmd_down(args):
    root, var_dir, files = resolve(args)
    st = read_state(var_dir)
    if not st:
        out("keel-stack: not running")
        return 0
    spid = st.get("supervisor_pid")
    grace = sum(s.get("stop_grace", 10) for s in st["services"].values()) + 30
    if pid_alive(spid):
        os.kill(spid, signal.SIGTERM)
        deadline = time.time() + grace
        while pid_alive(spid) and time.time() < deadline:
            time.sleep(0.05)
    left = 0
    for s in st["services"].values():  # supervisor gone (or crashed): nothing may stay behind
        for r in s["replicas"]:
            if r.get("pid") and pid_alive(r["pid"]):
                left += 1
                killpg(r["pid"], signal.SIGKILL)
    if pid_alive(spid):
        os.kill(spid, signal.SIGKILL)
    try:
        os.unlink(os.path.join(var_dir, "stack.json"))
    except OSError:
        pass
    out("keel-stack: stopped" + (f" ({left} leftover processes killed)" if left else ""))
    return 0


def cmd_ps(args):
    root, var_dir, files = resolve(args)
    st = read_state(var_dir)
    if not st or not pid_alive(st.get("supervisor_pid")):
        if args.json:
            print(json.dumps({"running": False}))
        else:
            print("keel-stack: not running")
        return 1 if not st else 1
    if args.json:
        print(json.dumps(st, indent=1))
        return 0
    prof = ",".join(st.get("profiles") or [])
    print(f"supervisor pid {st['supervisor_pid']} ({st['phase']})  var {st['var_dir']}"
          + (f"  profiles {prof}" if prof else ""))
    print(f"{'SERVICE':<16}{'PID':>8}{'PORT':>8}  {'STATE':<10}{'HEALTH':<11}{'RESTARTS':>8}")
    for name in st["order"]:
        for r in st["services"][name]["replicas"]:
            state = r["state"] if r["state"] != "exited" else f"exited({r['exit_code']})"
            print(f"{r['label']:<16}{r['pid'] or '-':>8}{r['port'] or '-':>8}  {state:<10}"
                  f"{r['health']:<11}{r['restarts']:>8}")
    return 0


def cmd_logs(args):
    return logcli.cmd_logs(args, resolve, read_state, die)


def running_state(args):
    root, var_dir, files = resolve(args)
    st = read_state(var_dir)
    if not st or not pid_alive(st.get("supervisor_pid")):
        die("not running", 1)
    return st


def cmd_restart(args):
    st = running_state(args)
    if args.service not in st["services"]:
        die(f"unknown service {args.service}")
    return 0 if control(st, {"cmd": "restart", "service": args.service}) else 1


def cmd_stop(args):
    st = running_state(args)
    if args.service not in st["services"]:
        die(f"unknown service {args.service}")
    return 0 if control(st, {"cmd": "pause", "service": args.service}) else 1


def cmd_start(args):
    st = running_state(args)
    if args.service not in st["services"]:
        die(f"unknown service {args.service}")
    return 0 if control(st, {"cmd": "resume", "service": args.service}) else 1


def cmd_kill(args):
    st = running_state(args)
    svc, _, n = args.target.partition("#")
    if svc not in st["services"]:
        die(f"unknown service {svc}")
    sig = getattr(signal, args.signal.upper() if args.signal.upper().startswith("SIG")
                  else "SIG" + args.signal.upper(), None)
    if sig is None:
        die(f"unknown signal {args.signal}")
    reps = st["services"][svc]["replicas"]
    if n:
        reps = [r for r in reps if str(r["replica"]) == n]
        if not reps:
            die(f"{svc} has no replica {n}")
    for r in reps:
        if r.get("pid"):
            try:
                os.kill(r["pid"], sig)
                out(f"{r['label']}: sent {sig.name} to pid {r['pid']}")
            except ProcessLookupError:
                pass
    return 0


def cmd_config(args):
    root, var_dir, files, env, once, doc, services, order, profiles = load(args)
    check_budget(doc, model.load_raw(files), services, order, env)
    yaml.safe_dump(doc, sys.stdout, sort_keys=False)
    print("# profiles: " + ",".join(sorted(set(profiles) | {model.NATIVE_PROFILE})))
    print("# start order: " + " -> ".join(order))
    return 0


def cmd_scrape_config(args):
    """Generated from the files as written (no interpolation: no secrets needed)."""
    root, var_dir, files = resolve(args)
    try:
        text = monitoring.docker_config(model.load_raw(files))
    except (model.ConfigError, ValueError) as e:
        die(str(e), 2)
    sys.stdout.write(text)
    return 0


def cmd_secrets(args):
    root, var_dir, files = resolve(args)
    make_env(args, root, var_dir, files, generate=True)
    out(os.path.join(var_dir, "secrets.env"))
    return 0


COMMANDS = {"secrets": cmd_secrets, "up": cmd_up, "down": cmd_down, "ps": cmd_ps, "logs": cmd_logs, "restart": cmd_restart,
            "stop": cmd_stop, "start": cmd_start, "kill": cmd_kill, "config": cmd_config,
            "scrape-config": cmd_scrape_config}
COMMANDS.update(release.cli_commands(running_state, control, die))
# Commands that only print: a closed stdout (keel-stack ps | head) ends them the way it ends any
# Unix filter, by SIGPIPE. The others finish their work and drop their output (see out()).
PRINT_ONLY = ("ps", "logs", "config", "scrape-config")

COMMANDS.update(logcli.cli_commands(resolve, read_state, die))   # trace
PRINT_ONLY += ("trace",)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.cmd in PRINT_ONLY:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        code = COMMANDS[args.cmd](args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        drop_stdout()
        return 128 + signal.SIGPIPE
