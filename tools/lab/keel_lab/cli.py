"""keel-lab command line: runs the selected experiments, grouped by the stack each needs, then
writes the report. See docs/lab.md."""
import argparse
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

from . import machine, nginx_ref, report
from .lab import Lab, Plan
from .load import KeelLoad
from .runner import REPO, LabError, Recorder
from .stack import SWITCHES, LabStack

ALL = [name for name, _, _ in report.EXPERIMENTS]
QUICK_DEFAULT = ["steps", "overload", "failover", "dependency"]
ALIASES = {"capacity": "overload", "step": "steps", "dep": "dependency"}


def parse_args(argv):
    build = os.environ.get("KEEL_BUILD_DIR") or os.path.join(REPO, "build", "release")
    p = argparse.ArgumentParser(prog="keel-lab", description="Seed 004's experiments against a keel stack of "
                                "its own; writes var/lab/<UTC time>/report.md with plots.")
    p.add_argument("--quick", action="store_true", help="at most 6 minutes: small steps, short runs, fewer "
                   "experiments (" + ",".join(QUICK_DEFAULT) + ")")
    p.add_argument("--only", help="comma list of experiments: " + ",".join(ALL) + " (default: all; quick: "
                   + ",".join(QUICK_DEFAULT) + ")")
    p.add_argument("--max-steps", type=int, help="run only the first N load steps")
    p.add_argument("--build-dir", default=build, help="binaries (default $KEEL_BUILD_DIR or build/release)")
    p.add_argument("--keel-load", help="keel-load binary (default <build-dir>/tools/load/keel-load)")
    p.add_argument("--out", default=os.path.join(REPO, "var", "lab"), help="reports go to OUT/<UTC time>/ "
                   "and OUT/latest points at the last one (default var/lab)")
    p.add_argument("--keep-stack", action="store_true", help="keep the stack's temporary var dir")
    a = p.parse_args(argv)
    a.build_dir = os.path.abspath(os.path.join(REPO, a.build_dir))
    a.keel_load = os.path.abspath(a.keel_load or os.path.join(a.build_dir, "tools", "load", "keel-load"))
    if a.only:
        a.selected = []
        for name in a.only.split(","):
            name = ALIASES.get(name.strip(), name.strip())
            if name not in ALL:
                p.error(f"--only: unknown experiment {name!r} (known: {', '.join(ALL)})")
            if name not in a.selected:
                a.selected.append(name)
    else:
        a.selected = list(QUICK_DEFAULT if a.quick else ALL)
    if a.max_steps is not None and a.max_steps < 1:
        p.error("--max-steps must be at least 1")
    return a


def log(t0):
    def say(msg):
        print(f"keel-lab [{time.monotonic() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)
    return say


def grouped_parts(lab, selected):
    """Every part of the selected experiments, grouped by the stack it needs (replica counts and
    switches): the compose default stack first, then in order of first use."""
    groups = {}
    for key, _, mod in report.EXPERIMENTS:
        if key not in selected:
            continue
        for scale, switches, name, fn in mod.parts(lab):
            sw = {k: switches.get(k, "on") for k in SWITCHES}
            counts, _ = lab.stack.plan(scale)
            gk = json.dumps([counts, sw], sort_keys=True)
            groups.setdefault(gk, {"scale": scale, "switches": sw, "parts": []})["parts"].append((key, name, fn))
    default_counts, _ = lab.stack.plan({})
    default = json.dumps([default_counts, {k: "on" for k in SWITCHES}], sort_keys=True)
    return ([groups[default]] if default in groups else []) + [g for k, g in groups.items() if k != default]


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    t0 = time.monotonic()
    rec = Recorder(log=log(t0))
    started = datetime.datetime.now(datetime.timezone.utc)
    os.makedirs(args.out, exist_ok=True)
    run_dir = os.path.join(args.out, report.utc_stamp(started))
    n = 1
    while os.path.exists(run_dir):
        n += 1
        run_dir = os.path.join(args.out, f"{report.utc_stamp(started)}-{n}")
    os.makedirs(run_dir)
    stack_dir = tempfile.mkdtemp(prefix="keel-lab-stack-")
    stack = LabStack(rec, args.build_dir, stack_dir)
    try:
        load = KeelLoad(rec, args.keel_load, run_dir, stack)
    except LabError as e:
        print(f"keel-lab: {e}", file=sys.stderr)
        shutil.rmtree(stack_dir, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        return 2
    plan = Plan(args.quick, args.max_steps)
    lab = Lab(rec, stack, load, plan, run_dir)
    lab.machine = machine.describe()
    rec.say(f"report: {run_dir}; stack var dir: {stack_dir}")

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    interrupted = False
    try:
        try:
            rec.say("nginx static reference")
            nginx_ref.measure(lab)
        except LabError as e:
            lab.errors["reference"] = str(e)
        users = plan.users_needed(args.selected)
        try:
            stack.prepare()
            groups = grouped_parts(lab, args.selected)
        except LabError as e:
            groups = []
            for key in args.selected:
                lab.errors[key] = f"no stack: {e}"
        for g in groups:
            try:
                stack.ensure(g["scale"], g["switches"])
                load.setup_users(users)
            except LabError as e:
                for key, name, _ in g["parts"]:
                    lab.errors.setdefault(key, f"{name}: the stack did not start: {e}")
                continue
            for key, name, fn in g["parts"]:
                rec.say(f"experiment {name}")
                t = time.monotonic()
                try:
                    fn(lab)
                except (LabError, OSError, ValueError, KeyError, TypeError) as e:
                    lab.errors[key] = (lab.errors.get(key, "") + f" {name}: {e}").strip()
                    rec.say(f"{name} failed: {e}")
                    traceback.print_exc()
                rec.say(f"{name} took {time.monotonic() - t:.0f} s")
    except KeyboardInterrupt:
        interrupted = True
        lab.notes.append("interrupted: the results are partial")
    finally:
        try:
            stack.down()
        finally:
            logs = os.path.join(stack_dir, "log")
            if os.path.isdir(logs):
                shutil.copytree(logs, os.path.join(run_dir, "stack-log"), dirs_exist_ok=True)
            if not args.keep_stack:
                shutil.rmtree(stack_dir, ignore_errors=True)
    for key, _, mod in report.EXPERIMENTS:
        if key in args.selected:
            try:
                lab.figures[key] = mod.figures(lab)
            except Exception as e:   # a plot must not cost the report
                lab.notes.append(f"{key}: plot failed: {e!r}")
    path = report.write(lab, ["keel-lab"] + (sys.argv[1:] if argv is None else list(argv)), started,
                        datetime.datetime.now(datetime.timezone.utc), args.selected)
    report.link_latest(args.out, run_dir)
    print(path)
    if lab.errors or interrupted:
        print("keel-lab: some experiments failed: " + "; ".join(f"{k}: {v}" for k, v in lab.errors.items()),
              file=sys.stderr)
        return 1
    return 0
