"""The report's figures: matplotlib with the Agg backend (no display), one PNG per figure."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import paper  # noqa: E402

DPI = 110


def _save(lab, fig, name):
    fig.tight_layout()
    fig.savefig(lab.path(name), dpi=DPI)
    plt.close(fig)
    return name


def _series(tl, key, offset=0.0):
    return [e["t"] + offset for e in tl], [e.get(key) or 0 for e in tl]


def steps_latency(lab, rows):
    fig, ax = plt.subplots(figsize=(7, 4.2))
    users = [r["users"] for r in rows]
    for key, style in (("mean", "o-"), ("p50", "s--"), ("p95", "^--"), ("p99", "v-")):
        ax.plot(users, [(r["result"].get("latency_ms") or {}).get(key) or 0 for r in rows], style, label=f"keel {key}")
    pu = sorted(paper.PAPER_STEPS_MEAN_MS)
    ax.plot(pu, [paper.PAPER_STEPS_MEAN_MS[u] for u in pu], "kx", markersize=10,
            label="paper mean (80 ms at 400; > 1 s at 1000)")
    ax.set_yscale("log")
    ax.set_xlabel("users (think time 1 s)")
    ax.set_ylabel("latency, ms (log)")
    ax.set_title("Latency vs users (paper fig. 1)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(lab, fig, "steps-latency.png")


def steps_throughput(lab, rows):
    fig, ax = plt.subplots(figsize=(7, 4.2))
    users = [r["users"] for r in rows]
    ax.plot(users, [r["result"].get("throughput_rps") or 0 for r in rows], "o-", label="keel")
    ax.plot(users, [u / paper.THINK_S for u in users], ":", color="gray", label="users / think time")
    ax.plot(users, [paper.paper_steps_rps(u) for u in users], "k--", label="paper (~500 rps plateau)")
    ax.set_xlabel("users (think time 1 s)")
    ax.set_ylabel("throughput, requests/s")
    ref = (lab.ref or {}).get("rps")
    ax.set_title("Throughput vs users (paper fig. 2)" + (f"; nginx static: {ref:,.0f} rps" if ref else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(lab, fig, "steps-throughput.png")


def capacity(lab, probes, limit_ms):
    fig, ax = plt.subplots(figsize=(7, 4.2))
    pr = sorted(probes, key=lambda p: p["rate"])
    rates = [p["rate"] for p in pr]
    ax.plot(rates, [(p["result"].get("latency_ms") or {}).get("p99") or 0 for p in pr], "o-", label="p99")
    ax.plot(rates, [(p["result"].get("latency_ms") or {}).get("p50") or 0 for p in pr], "s--", label="p50")
    ax.axhline(limit_ms, color="red", linestyle=":", label=f"{limit_ms:.0f} ms")
    ax.set_yscale("log")
    ax.set_xlabel("offered rate, requests/s (open loop, mix)")
    ax.set_ylabel("latency, ms (log)")
    ax2 = ax.twinx()
    ax2.plot(rates, [p["result"].get("throughput_rps") or 0 for p in pr], "g^:", label="served rps")
    ax2.set_ylabel("served, requests/s")
    ax.set_title("Capacity search")
    ax.grid(True, which="both", alpha=0.3)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    return _save(lab, fig, "capacity.png")


def overload(lab, modes, overload_s):
    fig, axes = plt.subplots(len(modes), 1, figsize=(8, 3.4 * len(modes)), squeeze=False)
    for ax, (mode, m) in zip(axes[:, 0], modes.items()):
        tl = (m["high"].get("timeline") or []) + [dict(e, t=e["t"] + overload_s) for e in (m["low"].get("timeline") or [])]
        x, ok = _series(tl, "ok")
        _, err = _series(tl, "errors")
        ax.plot(x, ok, "g-", label="ok/s (goodput)")
        ax.plot(x, err, "r-", label="errors/s (incl. shed)")
        ax.axvline(overload_s, color="k", linestyle="--", label="load drops to capacity/2")
        ax.set_xlabel("s")
        ax.set_ylabel("requests/s")
        ax2 = ax.twinx()
        p99 = [max(e.get("p99_ms") or 0, 0.01) if e.get("ok") else float("nan") for e in tl]
        ax2.plot(x, p99, "b:", label="p99 ms (admitted)")
        shed = [max(e["shed_p99_ms"], 0.01) if e.get("shed_p99_ms") is not None else float("nan") for e in tl]
        ax2.plot(x, shed, "m.", label="p99 ms (503s)")
        ax2.set_yscale("log")
        ax2.set_ylabel("p99, ms (log)")
        ax.set_title(f"3x capacity ({m['rate']:.0f} rps), overload control {mode}")
        ax.grid(True, alpha=0.3)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper right")
    return _save(lab, fig, "overload.png")


def failover(lab, r):
    fig, axes = plt.subplots(len(r), 1, figsize=(8, 3.2 * len(r)), squeeze=False)
    for ax, (n, m) in zip(axes[:, 0], sorted(r.items())):
        tl = m["result"].get("timeline") or []
        x, ok = _series(tl, "ok")
        _, err = _series(tl, "errors")
        ax.plot(x, ok, "g-", label="ok/s")
        ax.bar(x, err, color="red", alpha=0.6, label="failed/s")
        if m["t_kill"] is not None:
            ax.axvline(m["t_kill"], color="k", linestyle="--", label="SIGKILL catalog#1")
        if m["t_ready"] is not None:
            ax.axvline(m["t_ready"], color="b", linestyle=":", label="catalog#1 ready again")
        ax.set_title(f"Failover, {n} catalog instance{'s' if n > 1 else ''} "
                     f"(paper fig. 4: {paper.PAPER_FAILOVER.get(n, '-')})")
        ax.set_xlabel("s")
        ax.set_ylabel("requests/s")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    return _save(lab, fig, "failover.png")


def scaling(lab, r, rel):
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ns = sorted(r)
    ax.plot(ns, ns, ":", color="gray", label="ideal")
    pn = sorted(paper.PAPER_SCALING)
    ax.plot(pn, [paper.PAPER_SCALING[n] for n in pn], "k--x", label="paper (fig. 5)")
    if rel:
        ax.plot(ns, [rel[n] for n in ns], "o-", label="keel")
    ax.set_xlabel("instances of orders and recommendations")
    ax.set_ylabel("throughput relative to 1 instance")
    ax.set_xticks(sorted(set(ns) | set(pn)))
    ax.set_title(f"Scaling on {lab.machine['cores']} cores")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(lab, fig, "scaling.png")


def dependency(lab, r, shed_target_ms=None):
    kinds = sorted({k for k, _ in r})
    fig, axes = plt.subplots(len(kinds), 3, figsize=(14, 3.2 * len(kinds)), squeeze=False, sharex=True)
    for row, kind in zip(axes, kinds):
        shaded = False
        for (k, br), m in sorted(r.items()):
            if k != kind:
                continue
            tl = m["result"].get("timeline") or []
            x = [e["t"] for e in tl]
            # a second without one answered (non-503) request has no latency: a gap, not zero
            p99 = [e.get("p99_ms") if e.get("ok") else None for e in tl]
            shed = [e.get("shed_p99_ms") for e in tl]   # null in a second without a 503
            share = [100.0 * e.get("errors", 0) / max(1, e.get("errors", 0) + e.get("ok", 0)) for e in tl]
            row[0].plot(x, [float("nan") if v is None else max(v, 0.01) for v in p99], ".-", label=f"breakers {br}")
            row[1].plot(x, [float("nan") if v is None else max(v, 0.01) for v in shed], ".-", label=f"breakers {br}")
            row[2].plot(x, share, "-", label=f"breakers {br}")
            if not shaded and m["t_on"] is not None and m["t_off"] is not None:
                for ax in row:
                    ax.axvspan(m["t_on"], m["t_off"], color="orange", alpha=0.2, label=f"catalog {kind}")
                w0, w1 = m.get("open_window") or (None, None)
                if w0 is not None and w1 is not None:
                    row[1].axvspan(w0, w1, color="green", alpha=0.1, label="judged: breaker open")
                shaded = True
        if shed_target_ms:
            row[1].axhline(shed_target_ms, color="k", ls="--", lw=0.8, label=f"target {shed_target_ms:.0f} ms")
        row[0].set_yscale("log")
        row[0].set_ylabel("orders p99 (answered, not 503), ms")
        row[1].set_yscale("log")
        row[1].set_ylabel("orders 503s p99, ms")
        row[2].set_ylabel("errors, % of requests")
        for ax in row:
            ax.set_xlabel("s")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
            ax.set_title(f"catalog {'frozen (SIGSTOP)' if kind == 'freeze' else 'stopped'}")
    return _save(lab, fig, "dependency.png")
