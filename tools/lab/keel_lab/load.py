"""keel-load runs (tools/load): the command line is built here, its JSON result is read back, and
every run's JSON and CSV are kept beside the report (raw/<name>.json, .csv)."""
import json
import os
import re
import subprocess
import time

from .runner import LabError


class KeelLoad:
    def __init__(self, rec, binary, run_dir, stack):
        self.rec, self.binary, self.stack = rec, binary, stack
        self.raw = os.path.join(run_dir, "raw")
        os.makedirs(self.raw, exist_ok=True)
        self.users_file = os.path.join(self.raw, "users.json")
        self.users_ready = 0
        if not os.access(binary, os.X_OK):
            raise LabError(f"no keel-load at {binary}: build it (cmake --build build/release --target keel-load) "
                           "or pass --keel-load PATH")

    def _user_args(self):
        return ["--users-file", self.users_file, "--save-users", self.users_file,
                "--service-token", self.stack.token, "--internal-url", self.stack.internal_url]

    def setup_users(self, n):
        """Registers, logs in and funds n users once (a one-second run of one user), saved to
        raw/users.json; every later run reuses them."""
        if n <= self.users_ready:
            return None
        argv = [self.binary, "--url", self.stack.url, "--mode", "closed", "--users", "1", "--duration-s", "1",
                "--mix", "list=100", "--setup-users", str(n - self.users_ready), "--save-users", self.users_file,
                "--service-token", self.stack.token, "--internal-url", self.stack.internal_url,
                "--no-progress", "--json", os.path.join(self.raw, "setup-users.json")]
        if self.users_ready:
            argv += ["--users-file", self.users_file]
        self.rec.say(f"load: setting up {n - self.users_ready} users")
        self.rec.run(argv, f"register, log in and fund {n - self.users_ready} load users", timeout=1800)
        self.users_ready = n
        return self.rec.commands[-1]["seconds"]

    def argv(self, name, mode, duration_s, warmup_s=0.0, accounts=False, url=None, progress=False, **opts):
        argv = [self.binary, "--url", url or self.stack.url, "--mode", mode, "--duration-s", f"{duration_s:g}",
                "--warmup-s", f"{warmup_s:g}", "--json", os.path.join(self.raw, name + ".json"),
                "--csv", os.path.join(self.raw, name + ".csv"), "--progress" if progress else "--no-progress"]
        for k, v in opts.items():
            if v is not None:
                argv += ["--" + k.replace("_", "-"), str(v)]
        if accounts:
            argv += self._user_args()
        return argv

    def start(self, name, mode, duration_s, what, **kw):
        """A run in the background (the experiment acts on the stack meanwhile); finish() reads it."""
        argv = self.argv(name, mode, duration_s, **kw)
        self.rec.say(f"load: {name} ({what}), {duration_s:g} s")
        log = open(os.path.join(self.raw, name + ".log"), "w")
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        return {"name": name, "argv": argv, "proc": proc, "t0": t0, "what": what, "log": log,
                "log_path": os.path.join(self.raw, name + ".log"), "limit": duration_s + kw.get("warmup_s", 0.0) + 600}

    @staticmethod
    def measuring_since(run, timeout=600):
        """When the measured part of a background run (started with progress=True) began: its
        timeline counts from there, after keel-load found the products and readied its users. Its
        first progress line ("     1s ...") comes one second in."""
        if "m0" in run:
            return run["m0"]
        deadline = time.monotonic() + timeout
        first = re.compile(r"^\s*1s\s", re.M)
        while time.monotonic() < deadline:
            try:
                with open(run["log_path"], errors="replace") as f:
                    if first.search(f.read()):
                        run["m0"] = time.monotonic() - 1.0
                        return run["m0"]
            except OSError:
                pass
            if run["proc"].poll() is not None:
                break
            time.sleep(0.02)
        raise LabError(f"keel-load {run['name']} did not start measuring (see {run['log_path']})")

    def finish(self, run):
        proc = run["proc"]
        try:
            rc = proc.wait(timeout=max(1.0, run["limit"] - (time.monotonic() - run["t0"])))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = "timeout"
        run["log"].close()
        self.rec.record(run["argv"], time.monotonic() - run["t0"], rc, run["what"])
        if rc != 0:
            with open(os.path.join(self.raw, run["name"] + ".log"), errors="replace") as f:
                tail = self.rec.mask(f.read()[-2000:])
            raise LabError(f"keel-load {run['name']} failed (exit {rc}):\n{tail}")
        with open(os.path.join(self.raw, run["name"] + ".json")) as f:
            return json.load(f)

    def run(self, name, mode, duration_s, what, **kw):
        return self.finish(self.start(name, mode, duration_s, what, **kw))

    def pid(self, run):
        return run["proc"].pid


# keel-load's split of http_503_shed by cause (overload control or a dependency): not more errors.
SPLIT_503 = ("http_503_overload", "http_503_dependency")


def error_count(result):
    if "error_count" in result:
        return result["error_count"]
    return sum(v for k, v in (result.get("errors") or {}).items() if k not in SPLIT_503)


def error_kinds(result, skip=()):
    """'kind n, ...' of the errors that occurred, the 503s' split by cause in brackets."""
    errors = result.get("errors") or {}
    out = []
    for k, v in sorted(errors.items()):
        if not v or k in SPLIT_503 or k in skip:
            continue
        if k == "http_503_shed" and any(errors.get(x) for x in SPLIT_503):
            v = f"{v} [overload {errors.get('http_503_overload', 0)}, dependency {errors.get('http_503_dependency', 0)}]"
        out.append(f"{k} {v}")
    return ", ".join(out)


def shed_count(result):
    """All 503 answers, whatever their cause."""
    return (result.get("errors") or {}).get("http_503_shed", 0)


def overload_shed_count(result):
    """503s from overload control (problem detail "overloaded"); older keel-load JSON without the
    split: every 503."""
    errors = result.get("errors") or {}
    return errors["http_503_overload"] if "http_503_overload" in errors else shed_count(result)


def lat(result, key="p99"):
    return ((result.get("latency_ms") or {}).get(key))
