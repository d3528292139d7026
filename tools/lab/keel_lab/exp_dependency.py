"""5. Dependency failure: every catalog instance frozen (SIGSTOP: it accepts connections and never
answers) or stopped for a while under order load, breakers on and off."""
import time

from . import paper, plots
from .lab import first_good

NAME = "dependency"


def parts(lab):
    out = []
    for br in lab.plan.dep_breakers:
        for kind in lab.plan.dep_kinds:
            out.append(({}, {"BREAKERS": br}, f"dependency-{kind}-{br}", lambda lab, k=kind, b=br: run(lab, k, b)))
    return out


def run(lab, kind, breakers):
    p = lab.plan
    total = p.dep_before + p.dep_fault + p.dep_after
    reached = lab.stack.switch_reached("BREAKERS")
    load = lab.load.start(f"dependency-{kind}-{breakers}", "closed", total,
                          f"orders, catalog {kind} {p.dep_fault} s, breakers {breakers}", accounts=True,
                          users=p.dep_users, think_ms=p.dep_think_ms, mix="order=100", ramp_s=0, progress=True)
    t_on = t_off = t_ready = None
    starter = None
    try:
        lab.wait_until(load, p.dep_before)
        t_on = lab.since(load)
        if kind == "freeze":
            lab.stack.kill("catalog", "STOP")
        else:
            lab.stack.stop("catalog")
        lab.wait_until(load, p.dep_before + p.dep_fault)
        t_off = lab.since(load)
        if kind == "freeze":
            lab.stack.kill("catalog", "CONT")
        else:
            starter = lab.stack.start_async("catalog")
            while starter.is_alive() and lab.since(load) < total + 60:
                time.sleep(0.1)
            t_ready = lab.since(load)
    finally:
        if kind == "freeze" and t_on is not None and t_off is None:
            lab.stack.kill("catalog", "CONT")   # never leave it frozen
        res = lab.load.finish(load)
        if starter:
            starter.join(120)
    tl = res.get("timeline") or []
    t0 = tl[0]["t"] - 1 if tl else 0
    before = [e for e in tl if e["t"] - t0 <= (t_on or 0)]
    during = [e for e in tl if (t_on or 0) + 5 < e["t"] - t0 <= (t_off or 0)]
    after = [e for e in tl if e["t"] - t0 > (t_off or 0)]
    base = sorted(e.get("p99_ms") or 0 for e in before)[len(before) // 2] if before else None
    limit = 2 * (base or 50) + 10
    rec = first_good(after, lambda e: e.get("errors", 0) == 0 and (e.get("p99_ms") or 1e9) <= limit)
    lab.results.setdefault(NAME, {})[(kind, breakers)] = {
        "result": res, "t_on": t_on, "t_off": t_off, "t_ready": t_ready, "reached": reached,
        "base_p99": base,
        "fault_p99": max((e["p99_ms"] for e in during if e.get("ok")), default=None),
        "fault_errors": sum(e.get("errors", 0) for e in tl if (t_on or 0) < e["t"] - t0 <= (t_off or 0)),
        "fault_requests": sum(e.get("errors", 0) + e.get("ok", 0) for e in tl
                              if (t_on or 0) < e["t"] - t0 <= (t_off or 0)),
        "recovery_s": rec, "after_s": len(after),
    }


def figures(lab):
    r = lab.results.get(NAME) or {}
    return [plots.dependency(lab, r)] if r else []


def section(lab, fmt):
    p = lab.plan
    r = lab.results.get(NAME) or {}
    out = [f"Closed loop, {p.dep_users} users placing orders (mix order=100: place with an Idempotency-Key, poll to "
           f"the final state) with {p.dep_think_ms} ms think time; after {p.dep_before} s every catalog instance is "
           f"frozen (`keel-stack kill -s STOP catalog`, then CONT) or stopped (`keel-stack stop catalog`, then "
           f"`start`) for {p.dep_fault} s; {p.dep_after} s after. BREAKERS=on|off in the services' environment.", ""]
    out.append("| catalog | breakers | p99 before ms | worst 1-s p99 during (after its first 5 s) ms | errors during | "
               "error share during | 503s answered in, p50 / p99 ms (whole run) | recovery after (errors 0, "
               "p99 <= 2x before + 10 ms, 3 s) | orders confirmed / cancelled | switch in env |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for (kind, br), m in r.items():
        of = m["result"].get("order_final_ms") or {}
        rec = m["recovery_s"]
        sl = m["result"].get("shed_latency_ms") or {}
        share = 100.0 * m["fault_errors"] / max(1, m["fault_requests"])
        kinds = ", ".join(f"{a} {b}" for a, b in sorted((m["result"].get("errors") or {}).items()) if b)
        out.append(f"| {kind} | {br} | {fmt.num(m['base_p99'])} | {fmt.num(m['fault_p99'])} | {m['fault_errors']}"
                   f"{f' (whole run: {kinds})' if kinds else ''} | "
                   f"{share:.0f}% | {fmt.num(sl.get('p50'))} / {fmt.num(sl.get('p99'))} | "
                   f"{f'{rec} s' if rec is not None else 'not within ' + str(m['after_s']) + ' s'} | "
                   f"{of.get('confirmed', '-')} / {of.get('cancelled', '-')} | "
                   f"{ {True: 'yes', False: 'NO (app.yaml does not pass it)', None: '?'}[m['reached']] } |")
    out.append("")
    out.append("keel-load's latencies (p99 columns, the plot) are of answered requests other than 503; the 503s "
               "(shed, or refused while a breaker is open) have their own histogram, for the whole run only. "
               "Target: " + paper.TARGETS["dependency"] + ". The paper has no dependency experiment.")
    return "\n".join(out)
