"""4. Scaling: orders and recommendations at 1, 2, 4, 8 instances under the same saturating closed
loop (paper figure 5), with the CPU of every process to tell what saturates."""
from . import paper, plots
from .lab import by_service
from .load import error_count, error_kinds, lat

NAME = "scaling"
MIX = "recs=50,order=50"


def parts(lab):
    return [({"orders": n, "recommendations": n}, {}, f"scaling-{n}", lambda lab, n=n: run(lab, n))
            for n in lab.plan.scaling_counts]


def run(lab, n):
    p = lab.plan
    res = lab.measured(f"scaling-{n}", "closed", p.scaling_s, f"{p.scaling_users} users, no think time, {n} instances",
                       warmup_s=p.scaling_warmup_s, accounts=True, users=p.scaling_users, think_ms=0, mix=MIX,
                       ramp_s=min(2, p.scaling_warmup_s))
    lab.results.setdefault(NAME, {})[n] = res


def relative(r):
    """Goodput (answered without error) relative to 1 instance: errors answered fast would make a
    failing configuration look faster."""
    base = (r.get(1) or {}).get("goodput_rps")
    return {n: (res.get("goodput_rps") or 0) / base for n, res in r.items()} if base else {}


def figures(lab):
    r = lab.results.get(NAME) or {}
    return [plots.scaling(lab, r, relative(r))] if r else []


def section(lab, fmt):
    p = lab.plan
    r = lab.results.get(NAME) or {}
    rel = relative(r)
    cores = lab.machine["cores"] or 1
    out = [f"Closed loop, {p.scaling_users} users without think time, mix {MIX} (recommendations, and orders placed "
           f"and polled to their final state), {p.scaling_s} s measured after {p.scaling_warmup_s} s; orders and "
           "recommendations both at N instances, everything else at its compose count.", ""]
    out.append("| instances | goodput rps | relative | ideal | paper | all requests rps | p99 ms | errors | all CPU | "
               "busiest service | busiest process |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    saturated_at = None
    for n, res in sorted(r.items()):
        procs = res.get("_procs") or {}
        svc = by_service(procs)
        total = sum(d["cpu_pct"] for d in procs.values())
        top_s = max(svc.items(), key=lambda kv: kv[1]["cpu_pct"]) if svc else ("-", {"cpu_pct": 0})
        top_p = max(procs.items(), key=lambda kv: kv[1]["cpu_pct"]) if procs else ("-", {"cpu_pct": 0})
        if saturated_at is None and total >= 0.9 * 100 * cores:
            saturated_at = n
        kinds = error_kinds(res)
        out.append(f"| {n} | {fmt.num(res.get('goodput_rps'))} | {rel.get(n, 0):.2f}x | {n}x | "
                   f"{paper.PAPER_SCALING.get(n, '-')}x | {fmt.num(res.get('throughput_rps'))} | {fmt.num(lat(res))} | "
                   f"{error_count(res)}{f' ({kinds})' if kinds else ''} | {total:.0f}% | "
                   f"{top_s[0]} {top_s[1]['cpu_pct']:.0f}% | {top_p[0]} {top_p[1]['cpu_pct']:.0f}% |")
    out.append("")
    if r:
        first = sorted(r)[0]
        total0 = sum(d["cpu_pct"] for d in (r[first].get("_procs") or {}).values())
        out.append(
            f"CPU is in % of one core; this machine has {cores} cores, so {100 * cores}% is all of it. "
            + (f"All processes together use {total0:.0f}% already at {first} instance(s)"
               + (f", and the cores are saturated (>= 90%) from {saturated_at} instance(s) on" if saturated_at else "")
               + ". Once the cores are saturated another instance adds no CPU, only another process competing for "
                 "the same cores (and more PostgreSQL connections and context switches), so the line bends there: "
                 "the ideal line needs a core per added instance, which the paper's cluster had. The same command "
                 "on a machine with more cores moves the bend to the right.")
        )
    return "\n".join(out)
