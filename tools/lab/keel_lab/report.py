"""report.md: the machine, the nginx static reference, each experiment's figures beside the
paper's and as ratios to nginx static, the plots, and every command the lab ran."""
import datetime
import os

from . import exp_dependency, exp_failover, exp_overload, exp_scaling, exp_steps
from .load import lat

EXPERIMENTS = [("steps", "1. Load steps", exp_steps), ("overload", "2. Capacity and overload", exp_overload),
               ("failover", "3. Failover", exp_failover), ("scaling", "4. Scaling", exp_scaling),
               ("dependency", "5. Dependency failure", exp_dependency)]


class Fmt:
    def __init__(self, ref):
        self.ref = ref or {}

    @staticmethod
    def num(v):
        if v is None:
            return "-"
        v = float(v)
        return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"

    @staticmethod
    def secs(v):
        return "-" if v is None else f"{v:.1f} s"

    def rps_ratio(self, v):
        r = self.ref.get("rps")
        return "-" if not v or not r else f"{100.0 * v / r:.1f}%"

    def lat_ratio(self, v):
        r = self.ref.get("p99")
        return "-" if v is None or not r else f"{v / r:.0f}x"


def write(lab, args, started, finished, selected):
    fmt = Fmt(lab.ref)
    m = lab.machine
    out = [f"# keel load lab, {started.strftime('%Y-%m-%d %H:%M:%S')} UTC", ""]
    mins = (finished - started).total_seconds() / 60
    out.append(f"{'Quick' if lab.plan.quick else 'Full'} run (`{' '.join(args)}`), {mins:.1f} minutes; experiments: "
               f"{', '.join(selected)}. Seed 004's figures are quoted from the paper; absolute numbers move with the "
               "machine, so each is also given as a ratio to a bare nginx `return 200` measured on the same cores in "
               "this run. keel-load shares the cores with the stack (its CPU is in the tables).")
    out.append("")
    out.append("## Machine")
    out.append("")
    out.append("| | |\n|---|---|")
    for k in ("cpu", "cores", "memory", "kernel", "os", "commit", "subject", "loadavg"):
        out.append(f"| {k} | {m.get(k)} |")
    out.append("")
    out.append("## nginx static reference")
    out.append("")
    if lab.ref:
        mx = lab.ref["max"]
        out.append(f"nginx (`worker_processes auto`, `return 200`, config `nginx-static/nginx.conf`), keel-load open "
                   f"loop scenario static, 64 connections: **{fmt.num(lab.ref['rps'])} rps** at most (offered 100000 rps, "
                   f"at most 256 in flight; p99 {fmt.num(lat(mx))} ms, keel-load "
                   f"{fmt.num(mx.get('cpu_us_per_request'))} us CPU per request); at 1000 rps p50 "
                   f"{fmt.num(lab.ref['p50'])} ms, p99 **{fmt.num(lab.ref['p99'])} ms**. Ratios below: throughput as % "
                   "of the first, latency as a multiple of the second.")
    else:
        out.append("not measured: " + lab.errors.get("reference", "skipped"))
    out.append("")
    for key, title, mod in EXPERIMENTS:
        if key not in selected:
            continue
        out.append(f"## {title}")
        out.append("")
        if key in lab.errors:
            out.append(f"**Failed:** {lab.errors[key]}")
            out.append("")
        try:
            out.append(mod.section(lab, fmt))
        except Exception as e:   # a partial result still gets its report
            out.append(f"(section incomplete: {e!r})")
        out.append("")
        for fig in lab.figures.get(key, []):
            out.append(f"![{fig}]({fig})")
            out.append("")
    out.append("## The stacks")
    out.append("")
    out.append("Each started by `tools/stack/keel-stack up -d` in a temporary var dir on free ports (settings below); "
               "a new stack (same var dir: the database and the load users stay) whenever replica counts or switches "
               "change. PG_MAX_CONNECTIONS is raised to what the largest stack's pools need (replicas x PG_POOL_SIZE "
               "+ 10), so that no scaled service gets a smaller pool. Start-up times: "
               + ", ".join(f"{s:.0f} s" for s in lab.stack.up_seconds) + ".")
    out.append("")
    out.append("| setting | value |\n|---|---|")
    for k, v in lab.stack.settings.items():
        out.append(f"| {k} | `{v}` |")
    out.append("")
    if lab.notes:
        out.append("## Notes")
        out.append("")
        out += [f"- {n}" for n in lab.notes]
        out.append("")
    out.append("## Commands")
    out.append("")
    out.append("Every command the lab ran, in order (secrets replaced by their variable; keel-load's JSON, CSV and "
               "output are in `raw/`):")
    out.append("")
    out.append("| # | seconds | exit | what | command |\n|---|---|---|---|---|")
    for i, c in enumerate(lab.rec.commands, 1):
        out.append(f"| {i} | {c['seconds']:.1f} | {c['rc']} | {c['what']} | `{c['cmd'].replace('|', '%7C')}` |")
    out.append("")
    path = lab.path("report.md")
    with open(path, "w") as f:
        f.write("\n".join(out))
    return path


def utc_stamp(t=None):
    return (t or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def link_latest(out_dir, run_dir):
    """out_dir/latest -> the run (relative, replaced atomically)."""
    tmp = os.path.join(out_dir, ".latest.tmp")
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(os.path.basename(run_dir), tmp)
    os.replace(tmp, os.path.join(out_dir, "latest"))
