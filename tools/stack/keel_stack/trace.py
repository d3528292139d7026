"""`keel-stack trace ID`: one trace's hops, HTTP and events, as a time-ordered tree built from the
span lines in the instances' logs (var/log, rotated files and the gateway's access log included).

A span line is a log line with `span` (its name), `span_kind` (server, client, consumer, producer),
`duration_ms`, `trace_id`, `span_id`, `parent_span_id`; its `ts` is when the span ended (a line is
written when its span finishes), unless it carries `start_ts` (then that is its start). The gateway's
access log line (JSON with `trace_id`, `request_time` in seconds, `method`, `uri`, `status`) counts as
its server span even without `span`. Other lines of the trace are counted, and those at level
warn/error are shown under their span (by `span_id`).

Optionally (--bus) the JetStream trail of the trace's correlation ids (`keel-bus trail --json`) is
added as its own section: it has every delivery attempt's outcome, which a consumer span line may not."""
import json
import os
import re
import shutil
import subprocess

from . import logs

HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
TRAIL_TIMEOUT = 20.0


class TraceError(Exception):
    pass


class Span:
    def __init__(self, obj, label, t):
        self.obj = obj
        self.label = label
        gateway = "span" not in obj
        if gateway:
            method, uri = obj.get("method") or "", obj.get("uri") or obj.get("request_uri") or ""
            self.name = f"{method} {uri}".strip() or "request"
            self.kind = "server"
            self.duration_ms = _num(obj.get("request_time")) * 1000.0
        else:
            self.name = str(obj.get("span"))
            self.kind = str(obj.get("span_kind") or "")
            self.duration_ms = _num(obj.get("duration_ms"))
        start = logs.parse_time_value(obj["start_ts"]) if "start_ts" in obj else None
        if start is None:
            start = (t or 0.0) - self.duration_ms / 1000.0
        self.start = start
        self.end = start + self.duration_ms / 1000.0
        self.span_id = str(obj.get("span_id") or "")
        self.parent = str(obj.get("parent_span_id") or "")
        self.instance = str(obj.get("instance") or label)
        self.service = str(obj.get("service") or re.sub(r"-(\d+|access)$", "", label))
        status = obj.get("status", obj.get("http_status", obj.get("outcome")))
        error = obj.get("error")
        if error and status in (None, 0, "", "0"):
            status = "error"   # a client call that got no answer
        self.status = "" if status is None else str(status)
        self.children = []
        self.problems = [f"error: {error}"] if error and isinstance(error, str) else []
        self.depth = 0


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def is_span(obj):
    return "span" in obj or ("request_time" in obj and ("method" in obj or "uri" in obj))


class Trace:
    def __init__(self, trace_ids, correlation_ids, spans, lines):
        self.trace_ids = trace_ids
        self.correlation_ids = correlation_ids
        self.spans = spans
        self.lines = lines   # every log line of the trace: (label, obj)
        self.trail = []
        self.trail_note = None
        self.roots = self._tree()

    def _tree(self):
        by_id = {}
        for s in self.spans:
            if s.span_id and s.span_id not in by_id:
                by_id[s.span_id] = s
        roots = []
        for s in self.spans:
            p = by_id.get(s.parent)
            if p is not None and p is not s and not _ancestor(s, p, by_id):
                p.children.append(s)
            else:
                roots.append(s)
        for label, obj in self.lines:
            if str(obj.get("level") or "").lower() in ("warn", "warning", "error", "fatal", "critical"):
                owner = by_id.get(str(obj.get("span_id") or ""))
                if owner is not None and not is_span(obj):
                    owner.problems.append(f"{obj.get('level')}: {obj.get('msg') or obj.get('message') or ''}")
        key = (lambda s: (s.start, s.end))
        for s in self.spans:
            s.children.sort(key=key)
        roots.sort(key=key)
        return roots

    def ordered(self):
        """Spans depth first, children by start (the order the tree is drawn in), with depth."""
        out, seen = [], set()

        def walk(s, depth, prefix, last):
            if id(s) in seen:
                return
            seen.add(id(s))
            s.depth = depth
            out.append((s, prefix, last))
            for i, c in enumerate(s.children):
                walk(c, depth + 1, prefix + ("" if depth == 0 else ("   " if last else "│  ")),
                     i == len(s.children) - 1)
        for r in self.roots:
            walk(r, 0, "", True)
        return out

    @property
    def t0(self):
        starts = [s.start for s in self.spans] + [h["start"] for h in self.trail]
        return min(starts) if starts else 0.0

    @property
    def t1(self):
        ends = [s.end for s in self.spans] + [h["start"] + h["duration_ms"] / 1000.0 for h in self.trail]
        return max(ends) if ends else 0.0

    def add_trail(self, result):
        hops, note = result
        self.trail = sorted(hops, key=lambda h: h["start"])
        self.trail_note = note

    def render(self):
        t0 = self.t0
        services = []
        for s in sorted(self.spans, key=lambda s: s.start):
            if s.service not in services:
                services.append(s.service)
        head = (f"trace {', '.join(self.trace_ids)}: {len(self.spans)} spans in {len(services)} services "
                f"({', '.join(services)}), {(self.t1 - t0) * 1000:.3f} ms")
        if self.correlation_ids:
            head += f"; correlation {', '.join(self.correlation_ids)}"
        rows = [head, f"{'START_MS':>9}  {'DURATION_MS':>11}  {'STATUS':<10} {'INSTANCE':<18} {'KIND':<9} SPAN"]
        for s, prefix, last in self.ordered():
            branch = "" if s.depth == 0 else prefix + ("└─ " if last else "├─ ")
            note = ""
            if s.parent and s.depth == 0 and len(self.spans) > 1:
                note = f"   (parent {s.parent} not in the logs)"
            rows.append(f"{(s.start - t0) * 1000:9.3f}  {s.duration_ms:11.3f}  {s.status:<10.10} {s.instance:<18.18} "
                        f"{s.kind:<9.9} {branch}{s.name}{note}")
            for p in s.problems:
                cont = "" if s.depth == 0 else prefix + ("   " if last else "│  ")
                rows.append(f"{'':>9}  {'':>11}  {'':<10} {'':<18} {'':<9} {cont}! {p}")
        labels = sorted({label for label, _ in self.lines})
        rows.append(f"{len(self.lines)} log lines in {len(labels)} logs ({', '.join(labels)}): "
                    f"keel-stack logs --trace {self.trace_ids[0]}")
        if self.trail or self.trail_note:
            rows.append("")
            rows.append(f"JetStream trail (keel-bus trail {', '.join(self.correlation_ids)}): {len(self.trail)} hops"
                        + (f"; {self.trail_note}" if self.trail_note else ""))
            if self.trail:
                rows.append(f"{'START_MS':>9}  {'DURATION_MS':>11}  {'OUTCOME':<10} {'INSTANCE':<18} {'KIND':<9} TOPIC")
                for h in self.trail:
                    rows.append(f"{(h['start'] - t0) * 1000:9.3f}  {h['duration_ms']:11.3f}  {h['outcome']:<10.10} "
                                f"{h['instance']:<18.18} {h['kind']:<9.9} {h['topic']}")
        return "\n".join(rows)

    def to_json(self):
        t0 = self.t0
        spans = []
        for s, _, _ in self.ordered():
            spans.append({"offset_ms": round((s.start - t0) * 1000, 3), "duration_ms": round(s.duration_ms, 3),
                          "depth": s.depth, "name": s.name, "kind": s.kind, "service": s.service,
                          "instance": s.instance, "log": s.label, "status": s.status, "span_id": s.span_id,
                          "parent_span_id": s.parent, "problems": s.problems})
        trail = [{"offset_ms": round((h["start"] - t0) * 1000, 3), "duration_ms": round(h["duration_ms"], 3),
                  "service": h["service"], "instance": h["instance"], "kind": h["kind"], "topic": h["topic"],
                  "outcome": h["outcome"], "event_id": h.get("event_id", "")} for h in self.trail]
        return json.dumps({"trace_ids": self.trace_ids, "correlation_ids": self.correlation_ids,
                           "duration_ms": round((self.t1 - t0) * 1000, 3), "spans": spans,
                           "log_lines": len(self.lines), "trail": trail, "trail_note": self.trail_note})


def _ancestor(s, p, by_id):
    """Is s an ancestor of p (a cycle in broken data)?"""
    seen = set()
    while p is not None and p.span_id not in seen:
        if p is s:
            return True
        seen.add(p.span_id)
        p = by_id.get(p.parent)
    return False


def _collect(sources, flt):
    recs = logs.merged(sources, flt)
    return [(r[3], r[5], r[0]) for r in recs if r[5] is not None]


def build(var_dir, ident, state=None):
    """The trace with id `ident` (32 hex), or the traces of correlation id `ident`."""
    ident = ident.strip()
    sources = logs.select(logs.discover(var_dir, state), [])
    if not sources:
        raise TraceError(f"no logs in {os.path.join(var_dir, 'log')}")
    if HEX32.match(ident):
        traces = [ident.lower()]
    else:   # a correlation id: its lines name the trace(s)
        traces = []
        for _, obj, _ in _collect(sources, logs.Filter(correlations=[ident])):
            tid = str(obj.get("trace_id") or "").lower()
            if HEX32.match(tid) and tid not in traces:
                traces.append(tid)
        if not traces:
            raise TraceError(f"no log line with correlation id {ident} carries a trace_id")
    found = _collect(sources, logs.Filter(traces=traces))
    spans = [Span(obj, label, t) for label, obj, t in found if is_span(obj)]
    if not spans:
        more = f" ({len(found)} log lines carry it, none is a span line)" if found else ""
        raise TraceError(f"no span of trace {', '.join(traces)} in the logs{more}")
    corr = []
    for _, obj, _ in found:
        c = obj.get("correlation_id") or (obj.get("request_id") if "request_time" in obj else None)
        if c and str(c) not in corr:
            corr.append(str(c))
    return Trace(traces, corr, spans, [(label, obj) for label, obj, _ in found])


# -- the JetStream trail ------------------------------------------------------------------------
def keel_bus_binary(root):
    for cand in (os.environ.get("KEEL_BUS"),
                 os.path.join(os.environ.get("KEEL_BUILD_DIR") or os.path.join(root, "build", "release"),
                              "tools", "bus", "keel-bus"),
                 shutil.which("keel-bus")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def bus_trail(root, var_dir, correlation_ids, state, run=subprocess.run):
    """(hops, note): the trail records of the correlation ids, from `keel-bus trail --json`, run as the
    operator (NATS_OPERATOR_PASSWORD of var/secrets.env) against the stack's NATS."""
    if not correlation_ids:
        return [], "no correlation id in the trace's lines"
    binary = keel_bus_binary(root)
    if not binary:
        return [], "keel-bus not found (build it: cmake --build build/release --target keel-bus, or set KEEL_BUS)"
    env = dict(os.environ)
    secrets_path = os.path.join(var_dir, "secrets.env")
    try:
        with open(secrets_path) as f:
            for line in f:
                k, sep, v = line.strip().partition("=")
                if sep and k == "NATS_OPERATOR_PASSWORD" and k not in os.environ:
                    env[k] = v
    except OSError:
        pass
    url = ((state or {}).get("exports") or {}).get("NATS_URL") or env.get("NATS_URL")
    hops, notes = [], []
    for cid in correlation_ids:
        argv = [binary] + (["--server", url] if url else []) + ["trail", cid, "--json"]
        try:
            p = run(argv, env=env, capture_output=True, text=True, timeout=TRAIL_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            notes.append(f"keel-bus trail {cid}: {e}")
            continue
        if p.returncode != 0:
            err = (p.stderr or "").strip().splitlines()
            notes.append(f"keel-bus trail {cid}: exit {p.returncode}" + (f": {err[-1]}" if err else ""))
            continue
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            notes.append(f"keel-bus trail {cid}: output is not JSON")
            continue
        for h in doc.get("hops") or []:
            hops.append({"start": _num(h.get("start_us")) / 1e6, "duration_ms": _num(h.get("duration_us")) / 1000.0,
                         "service": str(h.get("service") or ""), "instance": str(h.get("instance") or ""),
                         "kind": str(h.get("kind") or ""), "topic": str(h.get("topic") or ""),
                         "outcome": str(h.get("outcome") or ""), "event_id": str(h.get("event_id") or "")})
    return hops, "; ".join(notes) or None
