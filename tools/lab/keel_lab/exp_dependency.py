"""5. Dependency failure: every catalog instance frozen (SIGSTOP: it accepts connections and never
answers) or stopped for a while under order load, breakers on and off."""
import time

from . import paper, plots
from .lab import first_good
from .load import error_kinds

NAME = "dependency"
OPEN_AFTER_S = 3            # after the fault began, the breaker is open (it opens within ~1 s)
SHED_P99_TARGET_MS = 50.0   # issue 9 D: orders answers its 503 within 50 ms (p99) once open


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
    # the breaker's target is judged on whole seconds from OPEN_AFTER_S after the fault began (the
    # breaker has opened by then) until the fault ended
    opened = [e for e in tl if (t_on or 0) + OPEN_AFTER_S <= e["t"] - t0 - 1 and e["t"] - t0 <= (t_off or 0)]
    shed_p99s = [e["shed_p99_ms"] for e in opened if e.get("shed_p99_ms") is not None]
    base = sorted(e.get("p99_ms") or 0 for e in before)[len(before) // 2] if before else None
    limit = 2 * (base or 50) + 10
    rec = first_good(after, lambda e: e.get("errors", 0) == 0 and (e.get("p99_ms") or 1e9) <= limit)
    # recovery: from SIGCONT (or the start command) to the end of the first of 3 seconds in a row
    # with under 1% errors (1-s resolution: an upper bound)
    back = first_good(after, lambda e: error_share(e) < 1.0)
    lab.results.setdefault(NAME, {})[(kind, breakers)] = {
        "result": res, "t_on": t_on, "t_off": t_off, "t_ready": t_ready, "reached": reached,
        "base_p99": base,
        "fault_p99": max((e["p99_ms"] for e in during if e.get("ok")), default=None),
        "fault_errors": sum(e.get("errors", 0) for e in tl if (t_on or 0) < e["t"] - t0 <= (t_off or 0)),
        "fault_requests": sum(e.get("errors", 0) + e.get("ok", 0) for e in tl
                              if (t_on or 0) < e["t"] - t0 <= (t_off or 0)),
        "recovery_s": rec, "after_s": len(after),
        "open_seconds": len(opened),
        "open_window": ((t_on or 0) + OPEN_AFTER_S, t_off),
        "open_requests": sum(e.get("errors", 0) + e.get("ok", 0) for e in opened),
        "open_shed": sum(e.get("shed", 0) for e in opened),
        "open_shed_p99_worst": max(shed_p99s, default=None),
        "open_shed_p99_median": sorted(shed_p99s)[len(shed_p99s) // 2] if shed_p99s else None,
        "open_shed_p99_over": sum(1 for v in shed_p99s if v > SHED_P99_TARGET_MS),
        "back_under_1pct_s": after[back]["t"] - t0 - (t_off or 0) if back is not None else None,
    }


def error_share(e):
    """% of the second's requests that failed (503s included)."""
    return 100.0 * e.get("errors", 0) / max(1, e.get("errors", 0) + e.get("ok", 0))


def figures(lab):
    r = lab.results.get(NAME) or {}
    return [plots.dependency(lab, r, SHED_P99_TARGET_MS)] if r else []


def section(lab, fmt):
    p = lab.plan
    r = lab.results.get(NAME) or {}
    out = [f"Closed loop, {p.dep_users} users placing orders (mix order=100: place with an Idempotency-Key, poll to "
           f"the final state) with {p.dep_think_ms} ms think time; after {p.dep_before} s every catalog instance is "
           f"frozen (`keel-stack kill -s STOP catalog`, then CONT) or stopped (`keel-stack stop catalog`, then "
           f"`start`) for {p.dep_fault} s; {p.dep_after} s after. BREAKERS=on|off in the services' environment.", ""]
    out.append("| catalog | breakers | p99 before ms | worst 1-s p99 during (after its first 5 s) ms | errors during | "
               "error share during | 503s answered in, p50 / p99 ms (whole run) | errors < 1% again after "
               "CONT / start (3 s in a row) | latency back (errors 0, p99 <= 2x before + 10 ms, 3 s) | "
               "orders confirmed / cancelled | switch in env |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for (kind, br), m in r.items():
        of = m["result"].get("order_final_ms") or {}
        rec = m["recovery_s"]
        back = m.get("back_under_1pct_s")
        sl = m["result"].get("shed_latency_ms") or {}
        share = 100.0 * m["fault_errors"] / max(1, m["fault_requests"])
        kinds = error_kinds(m["result"])
        out.append(f"| {kind} | {br} | {fmt.num(m['base_p99'])} | {fmt.num(m['fault_p99'])} | {m['fault_errors']}"
                   f"{f' (whole run: {kinds})' if kinds else ''} | "
                   f"{share:.0f}% | {fmt.num(sl.get('p50'))} / {fmt.num(sl.get('p99'))} | "
                   f"{f'{back:.1f} s' if back is not None else 'not within ' + str(m['after_s']) + ' s'} | "
                   f"{f'{rec} s' if rec is not None else 'not within ' + str(m['after_s']) + ' s'} | "
                   f"{of.get('confirmed', '-')} / {of.get('cancelled', '-')} | "
                   f"{ {True: 'yes', False: 'NO (app.yaml does not pass it)', None: '?'}[m['reached']] } |")
    out.append("")
    out.append(f"Breaker open (the seconds from {OPEN_AFTER_S} s after the fault began until it ended): orders' "
               f"503s per second and their p99, against the target of {SHED_P99_TARGET_MS:.0f} ms:")
    out.append("")
    out.append("| catalog | breakers | window s | requests | 503s | 503 share | 1-s 503 p99, median / worst ms | "
               f"seconds over {SHED_P99_TARGET_MS:.0f} ms | target |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for (kind, br), m in r.items():
        w0, w1 = m["open_window"]
        n, shed, worst = m["open_requests"], m["open_shed"], m["open_shed_p99_worst"]
        if not m["open_seconds"]:
            verdict = "no whole second in the window"
        elif not shed:
            verdict = "no 503 answered: not judged"
        else:
            verdict = "meets" if worst <= SHED_P99_TARGET_MS and m["open_shed_p99_over"] == 0 else "misses"
        out.append(f"| {kind} | {br} | {w0:.1f}-{(w1 or 0):.1f} ({m['open_seconds']} whole) | {n} | {shed} | "
                   f"{100.0 * shed / max(1, n):.0f}% | {fmt.num(m['open_shed_p99_median'])} / {fmt.num(worst)} | "
                   f"{m['open_shed_p99_over']} | {verdict} |")
    out.append("")
    out.append("How these were measured: every latency is keel-load's, from the send to the whole answer, in "
               "1-s buckets of its timeline (seconds since its measured part began; the fault's start and end are "
               "placed on that clock to within ~0.1 s). The p99 columns and the left plots are answers other than "
               "503; the 503s (shed, or refused while a breaker is open) have their own per-second p99 "
               "(`shed_p99_ms`, the middle plots, target line dashed) and a whole-run histogram. keel-load "
               "tells an overload shed (problem detail \"overloaded\") from a dependency 503 (anything else): "
               "the counts in brackets. A p99 of 1-s buckets is not a p99 of the window: the table gives each "
               "second's, median and worst. Retry-After is not checked by keel-load (orders' tests check it). "
               "Recovery counts from `kill -s CONT` (frozen) or from the `start` command (stopped) to the end of the "
               "first of 3 seconds in a row with under 1% failed requests, so it is an upper bound to 1 s. "
               "Target: " + paper.TARGETS["dependency"] + ". The paper has no dependency experiment.")
    return "\n".join(out)
