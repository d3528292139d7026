"""What every experiment shares: the stack, keel-load, the plan of durations, the results, and
a timeline helper (seconds since a background load started)."""
import os
import time

from . import procstat


class Plan:
    """Durations and sizes. QUICK keeps the whole lab under 6 minutes on a 2-core machine."""

    def __init__(self, quick, max_steps=None):
        self.quick = quick
        self.steps = [100, 200] if quick else list(range(100, 1001, 100))
        if max_steps:
            self.steps = self.steps[:max_steps]
        self.step_s, self.step_warmup_s = (10, 4) if quick else (30, 8)
        self.ref_s = 5 if quick else 10
        self.probe_s, self.probes_max, self.probe_start = (5, 5, 400) if quick else (10, 10, 250)
        self.overload_s, self.recovery_s = (10, 10) if quick else (30, 20)
        self.overload_modes = ["on"] if quick else ["on", "off"]
        self.failover_scales = [2] if quick else [1, 2]
        self.failover_s, self.failover_kill_at = (16, 5) if quick else (40, 10)
        self.failover_default_rate = 300
        self.scaling_counts = [1, 2] if quick else [1, 2, 4, 8]
        self.scaling_s, self.scaling_warmup_s, self.scaling_users = (8, 3, 64) if quick else (20, 5, 128)
        self.dep_kinds = ["freeze"] if quick else ["freeze", "stop"]
        self.dep_breakers = ["on"] if quick else ["on", "off"]
        self.dep_before, self.dep_fault, self.dep_after = (5, 10, 10) if quick else (10, 20, 20)
        self.dep_users, self.dep_think_ms = 50, 500

    def users_needed(self, only):
        n = 1
        if "steps" in only:
            n = max(n, max(self.steps or [1]))
        if "scaling" in only:
            n = max(n, self.scaling_users)
        if "dependency" in only:
            n = max(n, self.dep_users)
        if "overload" in only or "failover" in only:
            n = max(n, 100)   # the open-loop mix places orders as some of these users
        return n


class Lab:
    def __init__(self, rec, stack, load, plan, run_dir):
        self.rec, self.stack, self.load, self.plan, self.run_dir = rec, stack, load, plan, run_dir
        self.results = {}       # experiment -> its results
        self.figures = {}       # experiment -> [png file names]
        self.errors = {}        # experiment -> message
        self.notes = []
        self.ref = None         # nginx static reference
        self.capacity = None    # rps, from the overload experiment

    def path(self, name):
        return os.path.join(self.run_dir, name)

    def sampler(self):
        return procstat.Sampler(self.stack.processes()).start()

    def measured(self, name, mode, duration_s, what, **kw):
        """A load run with every stack process (and keel-load itself) sampled meanwhile."""
        s = self.sampler()
        run = self.load.start(name, mode, duration_s, what, **kw)
        s.add("keel-load", self.load.pid(run))
        try:
            res = self.load.finish(run)
        finally:
            procs = s.stop()
        res["_procs"] = procs
        return res

    def wait_until(self, run, t):
        """Sleep until t seconds into the measured part of the background load `run` (its timeline's
        clock)."""
        delay = self.load.measuring_since(run) + t - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def since(self, run):
        return time.monotonic() - self.load.measuring_since(run)


def by_service(procs):
    """{label: stats} -> {service: summed stats} (catalog#1 + catalog#2 -> catalog)."""
    out = {}
    for label, d in procs.items():
        svc = label.split("#", 1)[0]
        o = out.setdefault(svc, {"cpu_pct": 0.0, "rss_mb": 0.0, "instances": 0})
        o["cpu_pct"] += d["cpu_pct"]
        o["rss_mb"] += d["rss_mb"]
        o["instances"] += 1
    return out


def first_good(timeline, ok, streak=3):
    """Index (seconds) of the first entry that starts `streak` consecutive entries satisfying ok."""
    run = 0
    for i, e in enumerate(timeline):
        run = run + 1 if ok(e) else 0
        if run >= streak:
            return i - streak + 1
    return None
