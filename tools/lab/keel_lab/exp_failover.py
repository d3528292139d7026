"""3. Failover: SIGKILL catalog#1 under load with 1 and with 2 catalog instances (paper figure 4)."""
import time

from . import paper, plots
from .load import error_count, error_kinds

NAME = "failover"


def parts(lab):
    return [({"catalog": n}, {}, f"failover-{n}", lambda lab, n=n: run(lab, n)) for n in lab.plan.failover_scales]


def run(lab, n):
    p = lab.plan
    rate = max(100.0, lab.capacity / 2) if lab.capacity else float(p.failover_default_rate)
    old = next((r["pid"] for r in lab.stack.replicas("catalog") if r["replica"] == 1), None)
    load = lab.load.start(f"failover-{n}", "open", p.failover_s, f"product GETs at {rate:.0f} rps, {n} catalog",
                          rate=f"{rate:.0f}", scenario="product", max_in_flight=4096, progress=True)
    t_kill = t_back = t_ready = None
    try:
        lab.wait_until(load, p.failover_kill_at)
        t_kill = lab.since(load)
        lab.stack.kill("catalog#1", "KILL")
        deadline = time.monotonic() + p.failover_s + 60
        while time.monotonic() < deadline and t_ready is None:
            rep = next((r for r in lab.stack.replicas("catalog") if r["replica"] == 1), {})
            if rep.get("pid") not in (None, old):
                if t_back is None:
                    t_back = lab.since(load)
                if rep.get("health") == "healthy":
                    t_ready = lab.since(load)
            time.sleep(0.1)
    finally:
        res = lab.load.finish(load)
    tl = res.get("timeline") or []
    bad = [e["t"] for e in tl if e.get("errors", 0) > 0]
    lab.results.setdefault(NAME, {})[n] = {
        "rate": rate, "result": res, "t_kill": t_kill, "t_back": t_back, "t_ready": t_ready,
        "errors": error_count(res), "window": (bad[0], bad[-1]) if bad else None,
        "errors_before_kill": sum(e.get("errors", 0) for e in tl if e["t"] <= (t_kill or 0)),
    }


def figures(lab):
    r = lab.results.get(NAME) or {}
    return [plots.failover(lab, r)] if r else []


def section(lab, fmt):
    r = lab.results.get(NAME) or {}
    out = [f"Open loop product GETs (idempotent: nginx retries them on the other instance) at half the capacity "
           f"(or {lab.plan.failover_default_rate} rps without a capacity); catalog#1 gets SIGKILL "
           f"{lab.plan.failover_kill_at} s in; keel-stack restarts it (restart: unless-stopped). "
           "Times are from the kill.", ""]
    out.append("| catalog instances | rate | failed requests | errors before the kill | error window | "
               "process back | ready again | paper |")
    out.append("|---|---|---|---|---|---|---|---|")
    for n, m in sorted(r.items()):
        k = m["t_kill"] or 0
        w = m["window"]
        win = f"{w[1] - w[0] + 1:.0f} s (t {w[0]:g}-{w[1]:g})" if w else "none"
        kinds = error_kinds(m["result"])
        out.append(f"| {n} | {m['rate']:.0f} | {m['errors']}{f' ({kinds})' if kinds else ''} | "
                   f"{m['errors_before_kill']} | {win} | "
                   f"{fmt.secs(m['t_back'] - k if m['t_back'] else None)} | "
                   f"{fmt.secs(m['t_ready'] - k if m['t_ready'] else None)} | {paper.PAPER_FAILOVER.get(n, '-')} |")
    out.append("")
    out.append("Target: " + paper.TARGETS["failover"] + ". With 1 instance the downtime is the error window "
               "(requests fail until the new process is ready); with 2 it should be none.")
    return "\n".join(out)
