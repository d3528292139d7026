"""2. Capacity and overload, open loop: the rate at which p99 crosses 100 ms (a bounded search),
then 3x that rate with overload control on and off, then half the capacity to see it recover."""
from . import paper, plots
from .lab import first_good
from .load import error_count, error_kinds, lat, overload_shed_count, shed_count

NAME = "overload"
P99_LIMIT_MS = 100.0
MAX_RATE = 60000.0


def parts(lab):
    out = [({}, {}, "capacity", capacity)]
    for mode in lab.plan.overload_modes:
        out.append(({}, {"OVERLOAD_CONTROL": mode}, f"overload-{mode}", lambda lab, m=mode: overload(lab, m)))
    return out


def good(res, rate):
    """Under capacity: p99 under the limit, < 1% errors (requests keel-load had to drop count as
    errors) and at least 90% of the offered rate served."""
    n = max(1, res.get("ok", 0) + error_count(res))
    return (lat(res) is not None and lat(res) < P99_LIMIT_MS and error_count(res) / n < 0.01
            and res.get("throughput_rps", 0) >= 0.9 * rate)


def capacity(lab):
    p = lab.plan
    r = lab.results.setdefault(NAME, {})
    probes = r["probes"] = []
    lo = hi = None
    rate = float(p.probe_start)
    while len(probes) < p.probes_max:
        res = lab.load.run(f"capacity-{len(probes) + 1}-{rate:.0f}rps", "open", p.probe_s, f"probe {rate:.0f} rps",
                           warmup_s=1, accounts=True, rate=f"{rate:.0f}", scenario="mix", max_in_flight=4096)
        ok = good(res, rate)
        probes.append({"rate": rate, "ok": ok, "result": res})
        if ok:
            lo = rate
        else:
            hi = rate
        if lo and hi and hi / lo < 1.15:
            break
        if hi is None:
            if rate >= MAX_RATE:
                break
            rate = min(rate * 2, MAX_RATE)
        elif lo is None:
            rate = rate / 2
            if rate < 10:
                break
        else:
            rate = (lo + hi) / 2
    r["capacity"] = lo
    r["first_bad"] = hi
    lab.capacity = lo


def overload(lab, mode):
    p = lab.plan
    r = lab.results.setdefault(NAME, {})
    cap = lab.capacity or float(p.probe_start)
    if not lab.capacity:
        lab.notes.append("overload: no probed rate met p99 < 100 ms; 3x the lowest probe is used instead")
    reached = lab.stack.switch_reached("OVERLOAD_CONTROL")
    high = lab.load.run(f"overload-{mode}", "open", p.overload_s, f"3x capacity, overload control {mode}",
                        accounts=True, rate=f"{3 * cap:.0f}", scenario="mix", max_in_flight=4096)
    low = lab.load.run(f"overload-{mode}-recovery", "open", p.recovery_s, "half the capacity, after the overload",
                       accounts=True, rate=f"{cap / 2:.0f}", scenario="mix", max_in_flight=4096)
    base = lat(low) or P99_LIMIT_MS
    rec = first_good(low.get("timeline") or [], lambda e: e.get("errors", 0) == 0
                     and (e.get("p99_ms") or 1e9) <= P99_LIMIT_MS)
    r.setdefault("modes", {})[mode] = {"rate": 3 * cap, "high": high, "low": low, "recovery_s": rec,
                                       "reached": reached, "base_p99": base}


def other_kinds(res):
    kinds = error_kinds(res, skip=("http_503_shed",))
    dep = (res.get("errors") or {}).get("http_503_dependency", 0)
    if dep:
        kinds = ", ".join(x for x in (kinds, f"http_503_dependency {dep}") if x)
    return f" ({kinds})" if kinds else ""


def shed_p99s(res):
    """The 1-s p99s of the 503s over the run (keel-load's timeline; seconds with a 503 only)."""
    return [e["shed_p99_ms"] for e in res.get("timeline") or [] if e.get("shed_p99_ms") is not None]


def figures(lab):
    r = lab.results.get(NAME) or {}
    out = []
    if r.get("probes"):
        out.append(plots.capacity(lab, r["probes"], P99_LIMIT_MS))
    if r.get("modes"):
        out.append(plots.overload(lab, r["modes"], lab.plan.overload_s))
    return out


def section(lab, fmt):
    p = lab.plan
    r = lab.results.get(NAME) or {}
    out = [f"Open loop, keel-load's scenario mix (the shopper mix as independent arrivals), at most 4096 requests "
           f"in flight. Capacity: the highest probed rate with p99 < {P99_LIMIT_MS:.0f} ms, < 1% errors and at "
           f"least 90% of the rate served (probes of {p.probe_s} s after 1 s warm-up, doubling from "
           f"{p.probe_start} rps, then bisecting; at most {p.probes_max}).", ""]
    if r.get("probes"):
        out.append("| probe rps | served rps | p50 ms | p99 ms | errors | verdict |")
        out.append("|---|---|---|---|---|---|")
        for pr in r["probes"]:
            res = pr["result"]
            out.append(f"| {pr['rate']:.0f} | {fmt.num(res.get('throughput_rps'))} | {fmt.num(lat(res, 'p50'))} | "
                       f"{fmt.num(lat(res))} | {error_count(res)} | {'under' if pr['ok'] else 'over'} |")
        out.append("")
        cap = r.get("capacity")
        out.append(f"**Capacity: {fmt.num(cap)} rps** ({fmt.rps_ratio(cap)} of nginx static; "
                   f"{(cap or 0) / paper.PAPER_CAPACITY_RPS:.1f}x the paper's ~500 rps plateau; first rate over: "
                   f"{fmt.num(r.get('first_bad'))}). Target: {paper.TARGETS['capacity']}.")
        out.append("")
    modes = r.get("modes") or {}
    if modes:
        out.append(f"Overload: {p.overload_s} s at 3x capacity, then {p.recovery_s} s at half of it. "
                   "OVERLOAD_CONTROL=on|off in the services' environment (the stack is restarted for each).")
        out.append("")
        out.append("| overload control | offered rps | goodput rps | goodput / capacity | admitted p99 ms | "
                   "shed share | 503s p50 / p99 ms (run) | worst 1-s 503 p99 ms | other errors | "
                   "recovery (errors 0, p99 < 100 ms, 3 s) | switch in env |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for mode, m in modes.items():
            h = m["high"]
            n = max(1, h.get("requests", 0))
            shed = overload_shed_count(h)
            sl = h.get("shed_latency_ms") or {}
            per_s = shed_p99s(h)
            gp = h.get("goodput_rps")
            cap = lab.capacity
            rec = m["recovery_s"]
            out.append(f"| {mode} | {m['rate']:.0f} | {fmt.num(gp)} | "
                       f"{(100 * gp / cap) if (gp is not None and cap) else 0:.0f}% | {fmt.num(lat(h))} | "
                       f"{100 * shed / n:.1f}% | {fmt.num(sl.get('p50'))} / {fmt.num(sl.get('p99'))} | "
                       f"{fmt.num(max(per_s, default=None))} | "
                       f"{error_count(h) - shed}{other_kinds(h)} | "
                       f"{f'{rec} s' if rec is not None else f'not within {p.recovery_s} s'} | "
                       f"{ {True: 'yes', False: 'NO (app.yaml does not pass it)', None: '?'}[m['reached']] } |")
        out.append("")
        out.append("How these were measured: goodput is keel-load's ok answers (1xx-3xx) per second over the run; "
                   "admitted p99 is its latency_ms.p99 of the overload run, from each request's due time (open loop: "
                   "a late send counts as latency), over the answers other than 503. Shed share: the 503s whose "
                   "problem detail says \"overloaded\" (keel-load's `http_503_overload`: overload control refused "
                   "them) as a share of all requests; any other 503 (`http_503_dependency`: a breaker open, nginx "
                   "without an upstream) is under other errors. The 503s' p50 / p99 are of every 503 over the run "
                   "(keel-load's shed_latency_ms), the worst 1-s p99 of its timeline's `shed_p99_ms`; target for "
                   "both: under 5 ms. `dropped` are arrivals keel-load could not send because 4096 were already "
                   "in flight (it does not slow down: no coordinated omission). Target: " + paper.TARGETS["overload"]
                   + ". The paper has no overload experiment.")
    return "\n".join(out)
