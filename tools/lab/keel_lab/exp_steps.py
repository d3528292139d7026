"""1. Load steps: closed loop, N users of the shopper mix with 1 s think time (paper figures 1, 2)."""
from . import paper, plots
from .lab import by_service
from .load import error_count, error_kinds

NAME = "steps"


def parts(lab):
    return [({}, {}, "steps", run)]


def run(lab):
    p = lab.plan
    rows = []
    lab.results[NAME] = rows
    for n in p.steps:
        res = lab.measured(f"steps-{n}", "closed", p.step_s, f"{n} users, shopper mix, think 1 s",
                           warmup_s=p.step_warmup_s, accounts=True, users=n, think_ms=1000,
                           ramp_s=min(5, p.step_warmup_s))
        rows.append({"users": n, "result": res})


def user_steps(res):
    """Steps the users took per second: every request but the order polls."""
    d = res.get("duration_s")
    if not d:
        return None
    polls = ((res.get("steps") or {}).get("order_poll") or {}).get("requests", 0)
    return (res.get("requests", 0) - polls) / d


def figures(lab):
    rows = lab.results.get(NAME) or []
    if not rows:
        return []
    return [plots.steps_latency(lab, rows), plots.steps_throughput(lab, rows)]


def section(lab, fmt):
    rows = lab.results.get(NAME) or []
    out = ["Closed loop: each virtual user runs the shopper mix (keel-load's default: list 20, search 10, "
           f"product 35, recs 15, order 20) with 1 s think time (uniform 0.5-1.5 s), ramped over the warm-up "
           f"({lab.plan.step_warmup_s} s, not measured), then measured for {lab.plan.step_s} s per step.", ""]
    out.append("| users | throughput rps | user steps/s | ideal (users/think) | user steps / ideal | paper rps | / nginx static | mean ms | "
               "p50 | p95 | p99 | p99 / nginx p99 | errors | orders confirmed / cancelled | keel-load CPU us/req |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        res, n = r["result"], r["users"]
        lt = res.get("latency_ms") or {}
        errs = error_count(res)
        kinds = error_kinds(res)
        of = res.get("order_final_ms") or {}
        out.append(f"| {n} | {fmt.num(res.get('throughput_rps'))} | {fmt.num(user_steps(res))} | {n / paper.THINK_S:.0f} | "
                   f"{100 * (user_steps(res) or 0) / (n / paper.THINK_S):.0f}% | "
                   f"{paper.paper_steps_rps(n):.0f} | {fmt.rps_ratio(res.get('throughput_rps'))} | "
                   f"{fmt.num(lt.get('mean'))} | {fmt.num(lt.get('p50'))} | {fmt.num(lt.get('p95'))} | "
                   f"{fmt.num(lt.get('p99'))} | {fmt.lat_ratio(lt.get('p99'))} | {errs}{f' ({kinds})' if kinds else ''} | "
                   f"{of.get('confirmed', '-')} / {of.get('cancelled', '-')} | {fmt.num(res.get('cpu_us_per_request'))} |")
    out.append("")
    out.append("Paper (seed 004, figures 1 and 2): ~100 rps per 100 users up to a ~500 rps plateau; mean 80 ms at "
               "400 users; over 1 s at 1000 users. Issue 9's target: " + paper.TARGETS["steps_1000"] + ".")
    for r in rows:
        if r["users"] == 400:
            out.append(f"At 400 users keel's mean is {fmt.num((r['result'].get('latency_ms') or {}).get('mean'))} ms "
                       "(paper: 80 ms).")
        if r["users"] == 1000:
            res = r["result"]
            ideal = 1000 / paper.THINK_S
            ok = (error_count(res) == 0 and (res.get("latency_ms") or {}).get("p99", 1e9) < 50
                  and abs((user_steps(res) or 0) - ideal) <= 0.05 * ideal)
            out.append(f"At 1000 users: {'meets' if ok else 'misses'} the target (errors {error_count(res)}, "
                       f"p99 {fmt.num((res.get('latency_ms') or {}).get('p99'))} ms, "
                       f"{fmt.num(user_steps(res))} user steps/s; paper: mean over 1 s).")
    out.append("")
    out.append("How these were measured: keel-load counts every HTTP request: an order step is several (place, "
               "then poll to the final state every 50 ms), so throughput rps (all requests / measured seconds) "
               "exceeds users / think time; user steps/s leaves the polls out (requests - order_poll requests, "
               "per second) and is what the throughput target compares with users / think time (within 5%). A "
               "user thinks 0.5-1.5 s (mean 1 s) after each step ends, so a step's own duration (an order's "
               "polling to its final state included) lowers user steps/s below the ideal. Latency (mean, "
               "p50/p95/p99) is per HTTP request, polls included, from the send to the whole answer, over the "
               "answers other than 503 (none here when errors are 0); it is keel-load's, on the same cores as the "
               "stack. Errors are every failed request: connect, timeout, 4xx, 5xx and 503 answers.")
    out.append("")
    out.append("CPU (% of one core; the machine has {} cores) and peak memory (PSS: RSS with shared pages split "
               "among their sharers) per process tree, by step (the busiest first; postgres includes its backends, "
               "gateway its workers):".format(lab.machine["cores"]))
    out.append("")
    labels = []
    for r in rows:
        for label, d in sorted(r["result"]["_procs"].items(), key=lambda kv: -kv[1]["cpu_pct"]):
            if label not in labels:
                labels.append(label)
    out.append("| process | " + " | ".join(f"{r['users']} users" for r in rows) + " |")
    out.append("|---|" + "---|" * len(rows))
    for label in labels:
        cells = []
        for r in rows:
            d = r["result"]["_procs"].get(label)
            cells.append(f"{d['cpu_pct']:.0f}% / {d['rss_mb']:.0f} MB" if d else "-")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    total = [sum(d["cpu_pct"] for d in r["result"]["_procs"].values()) for r in rows]
    out.append("| **all** | " + " | ".join(f"{t:.0f}%" for t in total) + " |")
    out.append("")
    busiest = []
    for r in rows:
        svc = by_service(r["result"]["_procs"])
        if svc:
            top = max(svc.items(), key=lambda kv: kv[1]["cpu_pct"])
            busiest.append(f"{r['users']}: {top[0]} {top[1]['cpu_pct']:.0f}%")
    if busiest:
        out.append("Busiest service (all its instances) per step: " + "; ".join(busiest) + ".")
    return "\n".join(out)
