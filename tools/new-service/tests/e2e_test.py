#!/usr/bin/python3
"""tools/new-service end to end (ctest `new_service`, label e2e; a few minutes on 2 cores).

Generates a throwaway service `e2enew-<hex>` in the tree, reconfigures the existing build dir
(services/CMakeLists.txt globs it in), builds only its binary and its two test binaries and runs
them, starts it with keel-stack (limited to what it needs: postgres, redis, nats, auth, the
gateway and its own two instances) in a temporary var dir on free ports, and goes through the
gateway: its /readyz (internal gateway), POST /api/<name>/items with a user's token, then GET of
the new item without one. In `finally` it stops the stack and removes everything it made
(`new-service --remove`, a reconfigure so the build dir forgets the service, the service's build
folder) and asserts that the files the tool edits are byte for byte as before and that
`git status` is as before.

A run killed midway leaves things behind; the next run first removes whatever carries the
prefix: stacks under $TMPDIR/keel-e2e-newsvc-*, generated services e2enew-*, their build folders.

    flock /tmp/keel-build.lock /usr/bin/python3 tools/new-service/tests/e2e_test.py

Env: KEEL_BUILD_DIR (default build/release; must be configured and built), JOBS (2),
E2E_KEEP=1 keeps the stack's var dir. It runs cmake and make itself: do not run it under a
lock it would also take, and not beside another build of the same build dir.
"""
import glob
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
TOOL = os.path.join(REPO, "tools", "new-service", "new-service")
KEEL_STACK = os.path.join(REPO, "tools", "stack", "keel-stack")
LINT = os.path.join(REPO, "tools", "openapi-lint", "lint.mjs")   # tools/openapi-lint/openapi-lint runs it
BUILD = os.path.abspath(os.environ.get("KEEL_BUILD_DIR") or os.path.join(REPO, "build", "release"))
JOBS = os.environ.get("JOBS", "2")
PREFIX = "e2enew-"
VAR_PREFIX = "keel-e2e-newsvc-"
EDITED = ["deploy/compose/app.yaml", "deploy/compose/db.yaml", "deploy/nginx/gateway.conf.template",
          "deploy/nats/auth.conf",
          "services/CMakeLists.txt"]
# what the generated service needs running besides itself
NEEDED = {"postgres", "redis", "nats", "auth", "gateway"}

sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.dont_write_bytecode = True
from stack_fixture import Stack  # noqa: E402

T0 = time.monotonic()


def say(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def sh(args, timeout, what, cwd=REPO, env=None):
    """Runs a command; its output is shown only when it fails."""
    t = time.monotonic()
    # its own process group: interrupted (SIGTERM, timeout), make and its compilers stop too
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        raise
    p = subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)
    if p.returncode != 0:
        out = (p.stdout + p.stderr).strip().splitlines()
        raise Failed(f"{what} failed ({p.returncode}):\n" + "\n".join(out[-60:]))
    say(f"{what}: ok ({time.monotonic() - t:.1f}s)")
    return p


def reconfigure(why):
    sh(["cmake", "-S", REPO, "-B", BUILD], 300, f"cmake reconfigure ({why})")


def git_status():
    p = subprocess.run(["git", "status", "--porcelain=v1", "--untracked-files=normal"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    return p.stdout.splitlines() if p.returncode == 0 else None


def snapshot():
    out = {}
    for rel in EDITED:
        with open(os.path.join(REPO, rel), "rb") as f:
            out[rel] = f.read()
    return out


# -- leftovers of killed runs ------------------------------------------------------------------
def clean_leftovers():
    """Stacks, generated services and build folders of earlier runs that did not finish."""
    for d in glob.glob(os.path.join(tempfile.gettempdir(), VAR_PREFIX + "*")):
        if os.path.exists(os.path.join(d, "stack.json")):
            say(f"leftover stack in {d}: keel-stack down")
            subprocess.run([KEEL_STACK, "--var-dir", d, "down"], cwd=REPO, capture_output=True, timeout=180)
        shutil.rmtree(d, ignore_errors=True)
    p = subprocess.run([TOOL, "--list"], capture_output=True, text=True, timeout=60)
    names = [n for n in p.stdout.split() if n.startswith(PREFIX)]
    for n in names:
        say(f"leftover service {n}: new-service --remove")
        subprocess.run([TOOL, "--remove", n], capture_output=True, timeout=60)
    stale_builds = glob.glob(os.path.join(BUILD, "services", PREFIX + "*"))
    if names or stale_builds:
        reconfigure("forget leftovers")
        for d in stale_builds:
            shutil.rmtree(d, ignore_errors=True)


# -- the stack ---------------------------------------------------------------------------------
def limited_template(var_dir, running):
    """The gateway template without the locations of the upstreams that do not run (nginx refuses
    to start on a proxy_pass to an unknown upstream); everything else as in the repo."""
    import re
    with open(os.path.join(REPO, "deploy", "nginx", "gateway.conf.template")) as f:
        text = f.read()

    def keep(m):
        target = re.search(r"proxy_pass http://([a-z0-9-]+)", m.group(0))
        return m.group(0) if not target or target.group(1) in running else ""
    text = re.sub(r"(?m)^( +)location [^\n]*\{[^\n]*\n(?:\1 +[^\n]*\n)*?\1\}\n", keep, text)
    path = os.path.join(var_dir, "gateway.conf.template")
    with open(path, "w") as f:
        f.write(text)
    return path


class LimitedStack(Stack):
    """stack_fixture's Stack with a third compose file that turns off every service the new one
    does not need (an inactive profile) and points the gateway at the limited template."""

    def __init__(self, name):
        super().__init__(var_dir=tempfile.mkdtemp(prefix=VAR_PREFIX),
                         extra_env={"GATEWAY_ACCESS_LOG": "off", "DRAIN_TIMEOUT_MS": "2000"})
        with open(os.path.join(REPO, "deploy", "compose", "app.yaml")) as f:
            app = yaml.safe_load(f)
        running = NEEDED | {name}
        off = {s: {"profiles": ["new-service-test-off"]} for s in app["services"] if s not in running}
        ups = [u for u in app["services"]["gateway"]["x-native"]["nginx"]["upstreams"] if u in running]
        override = {"services": dict(off, gateway={"x-native": {"nginx": {
            "template": limited_template(self.var_dir, running), "upstreams": ups}}})}
        self.override = os.path.join(self.var_dir, "limited.yaml")
        with open(self.override, "w") as f:
            yaml.safe_dump(override, f)
        self.files = ["-f", os.path.join(REPO, "deploy", "compose", "db.yaml"),
                      "-f", os.path.join(REPO, "deploy", "compose", "app.yaml"), "-f", self.override]

    def cli(self, *args, **kw):
        return super().cli(*self.files, *args, **kw)


def exercise(stack, name):
    state = stack.state()["services"]
    check(name in state and len(state[name]["replicas"]) == 2, f"stack.json has no 2 replicas of {name}")
    for r in state[name]["replicas"]:
        resp = stack.request("GET", "/readyz", port=r["port"])
        check(resp.status == 200, f"{r['label']} /readyz: {resp!r}")
    resp = stack.request("GET", f"/{name}/readyz", port=stack.internal_port)
    check(resp.status == 200, f"internal gateway /{name}/readyz: {resp!r}")
    say(f"/readyz: both instances and the internal gateway answer 200")

    email = f"{name}@example.com"
    check(stack.register(email, "correct-horse").status == 201, "register")
    login = stack.login(email, "correct-horse")
    check(login.status == 200, f"login: {login!r}")
    token = login.json()["access_token"]
    items = f"/api/{name}/items"

    created = stack.request("POST", items, json_body={"name": "first"}, token=token)
    check(created.status == 201, f"POST {items}: {created!r}")
    item = created.json()
    check(set(item) == {"id", "owner_id", "name", "created_at"} and item["name"] == "first",
          f"POST {items} body: {item}")
    location = created.header("Location")
    check(location == f"{items}/{item['id']}", f"Location: {location}")
    say(f"POST {items} -> 201 {item['id']}")

    got = stack.request("GET", location)   # public: no token
    check(got.status == 200 and got.json() == item, f"GET {location}: {got!r}")
    say(f"GET {location} -> 200, the same item")

    # the outcomes and errors the routes map, as problem+json through the gateway
    for method, path, body, tok, status in [
            ("POST", items, {"name": "first"}, token, 409),
            ("POST", items, {"name": "x"}, None, 401),
            ("POST", items, {"name": "x", "extra": 1}, token, 422),
            ("GET", f"{items}/not-a-uuid", None, None, 400),
            ("GET", f"{items}/00000000-0000-4000-8000-000000000000", None, None, 404)]:
        r = stack.request(method, path, json_body=body, token=tok)
        check(r.status == status and r.content_type == "application/problem+json",
              f"{method} {path} {body}: expected {status} problem+json, got {r!r}")
    say("409 / 401 / 422 / 400 / 404 as problem+json")


# -- the run -----------------------------------------------------------------------------------
def lint(name):
    """tools/openapi-lint on every spec (its cross-file rules need them all); only the new
    service's verdict counts here. Skipped when the linter or node is missing."""
    node = shutil.which("node")
    wrapper = os.path.join(os.path.dirname(LINT), "openapi-lint")   # installs its node_modules
    if os.path.exists(wrapper):
        cmd = [wrapper]
    elif node and os.path.exists(LINT):
        cmd = [node, LINT]
    else:
        say("openapi-lint: not available, skipped")
        return
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    mine = f"services/{name}/openapi.yaml"
    lines = p.stdout.splitlines()
    verdict = [l for l in lines if l.split()[1:2] == [mine] and l.split()[0] in ("ok", "FAIL")]
    if not verdict:
        say(f"openapi-lint did not run ({p.returncode}), skipped: {(p.stderr or p.stdout).strip()[:300]}")
        return
    if verdict[0].startswith("FAIL"):
        i = lines.index(verdict[0])
        errors = []
        for l in lines[i + 1:]:
            if not l.startswith("  "):
                break
            errors.append(l)
        raise Failed(f"openapi-lint: {mine}:\n" + "\n".join(errors))
    say(f"openapi-lint: {verdict[0].strip()}")


def main():
    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    check(os.path.exists(os.path.join(BUILD, "CMakeCache.txt")), f"{BUILD} is not configured (make build)")
    for svc in ("auth",):
        exe = os.path.join(BUILD, "services", svc, f"keel-{svc}")
        check(os.path.exists(exe), f"{exe} is not built (make build)")
    clean_leftovers()
    status_before = git_status()
    files_before = snapshot()
    name = PREFIX + secrets.token_hex(3)
    say(f"service {name}")
    failures, stack = [], None
    try:
        sh([TOOL, name], 60, f"new-service {name}")
        lint(name)
        reconfigure("add the service")
        targets = [f"keel-{name}", f"{name}_service_test", f"{name}_service_pgtest"]
        sh(["cmake", "--build", BUILD, "-j", JOBS, "--target", *targets], 900, "build " + " ".join(targets))
        out = os.path.join(BUILD, "services", name)
        sh([os.path.join(out, f"{name}_service_test")], 120, "unit tests")
        sh([os.path.join(out, f"{name}_service_pgtest")], 300, "pg tests")
        stack = LimitedStack(name)
        t = time.monotonic()
        stack.up()
        say(f"keel-stack up ({', '.join(sorted(NEEDED | {name}))}): {time.monotonic() - t:.1f}s")
        exercise(stack, name)
    except (Failed, Exception, KeyboardInterrupt) as e:
        failures.append(str(e) if isinstance(e, Failed) else traceback.format_exc())
        if stack is not None and stack.started:
            print(stack.log_tails(20))
    finally:
        # everything below runs whatever failed above, and each step on its own
        if stack is not None:
            try:
                stack.down()
            except Exception:
                failures.append("keel-stack down: " + traceback.format_exc())
            if os.environ.get("E2E_KEEP"):
                say(f"var dir kept: {stack.var_dir}")
            else:
                stack.cleanup()
        for step in (lambda: sh([TOOL, "--remove", name], 60, f"new-service --remove {name}"),
                     lambda: reconfigure("forget the service"),
                     lambda: shutil.rmtree(os.path.join(BUILD, "services", name), ignore_errors=True)):
            try:
                step()
            except Exception as e:
                failures.append(f"cleanup: {e}")
    # the tree and the build dir as they were
    try:
        check(not os.path.lexists(os.path.join(REPO, "services", name)), f"services/{name} is still there")
        after = snapshot()
        for rel in EDITED:
            check(after[rel] == files_before[rel], f"{rel} differs from before the run")
        with open(os.path.join(BUILD, "services", "CTestTestfile.cmake")) as f:
            check(name not in f.read(), f"{BUILD}/services/CTestTestfile.cmake still lists {name}")
        help_ = subprocess.run(["cmake", "--build", BUILD, "--target", "help"], capture_output=True,
                               text=True, timeout=120).stdout
        check(f"keel-{name}" not in help_, f"the build dir still has a target keel-{name}")
        status_after = git_status()
        if status_before is not None:
            mine = [l for l in set(status_before) ^ set(status_after or []) if name in l or
                    any(l[3:].startswith(p) for p in EDITED)]
            check(not mine, "git status changed by the run:\n" + "\n".join(sorted(mine)))
            others = set(status_before) ^ set(status_after or [])
            if others:   # edits by someone else in the same tree meanwhile: not this run's doing
                say("note: git status changed meanwhile outside what the run touches:\n  "
                    + "\n  ".join(sorted(others)))
            else:
                say("git status: as before")
    except Failed as e:
        failures.append(str(e))
    if failures:
        print("\nFAILED:\n" + "\n\n".join(failures), flush=True)
        say("1 failed")
        return 1
    say(f"new_service: passed in {time.monotonic() - T0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
