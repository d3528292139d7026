"""`keel-stack logs`: every instance's log (its rotated files included, and the files a server
writes itself, such as the gateway's access log), optionally filtered by trace id or correlation
id and by time, merged in time order, with the instance as prefix.

A line's time: its JSON `ts` (keel's log), `time` or `msec` (nginx), else a timestamp at the start
of a text line (PostgreSQL, NATS, Redis), else the time of the line before it in the same file
(so text lines stay in their file's order, next to their neighbours)."""
import calendar
import datetime
import json
import os
import re
import sys
import time

from .rotate import rotated_paths

OWN_LOG = "keel-stack"   # the supervisor's log: repeats every instance's lines when detached
FOLLOW_POLL = 0.2
RESCAN_EVERY = 2.0
MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                      "Nov", "Dec"), 1)}
# 2026-11-30T12:00:00.123Z, 2026-11-30 12:00:00.123 UTC (postgres), 2026/11/30 12:00:00.123 (nats)
_ISO_TEXT = re.compile(rb"(\d{4})[-/](\d\d)[-/](\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?\s*(Z|UTC|[+-]\d\d:?\d\d)?")
# 30 Nov 2026 12:00:00.123 (redis)
_REDIS_TEXT = re.compile(rb"(\d\d?) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d)(\.\d+)?")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")


class LogsError(Exception):
    pass


# -- time ------------------------------------------------------------------------------------
def parse_time_value(v):
    """A JSON time (ISO 8601 text, or epoch seconds / milliseconds / microseconds) -> epoch seconds."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        x = float(v)
    else:
        s = str(v).strip()
        try:
            x = float(s)
        except ValueError:
            return parse_iso(s)
    if x > 1e14:
        return x / 1e6
    if x > 1e11:
        return x / 1e3
    return x


def parse_iso(s):
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", s)
    if m:   # fromisoformat wants at most 6 fraction digits
        s = f"{m.group(1)}.{(m.group(2) + '000000')[:6]}{m.group(3)}"
    try:
        d = datetime.datetime.fromisoformat(s)
    except ValueError:
        return None
    if d.tzinfo is None:
        return time.mktime(d.timetuple()) + d.microsecond / 1e6
    return d.timestamp()


def _epoch(y, mo, d, h, mi, sec, frac, tz):
    frac_s = float(frac) if frac else 0.0
    tt = (y, mo, d, h, mi, sec, 0, 0, -1)
    if tz in (None, b""):
        base = time.mktime(tt)   # the process's local time (it ran with keel-stack's TZ)
    else:
        base = datetime.datetime(y, mo, d, h, mi, sec, tzinfo=datetime.timezone.utc).timestamp()
        if tz not in (b"Z", b"UTC"):
            t = tz.decode().replace(":", "")
            off = (int(t[1:3]) * 3600 + int(t[3:5]) * 60) * (1 if t[0] == "+" else -1)
            base -= off
    return base + frac_s


def text_time(line):
    """The timestamp at the start of a text line, if any."""
    head = line[:64]
    m = _ISO_TEXT.search(head)
    if m:
        g = m.groups()
        try:
            return _epoch(int(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5]), g[6], g[7])
        except (ValueError, OverflowError):
            return None
    m = _REDIS_TEXT.search(head)
    if m and m.group(2).decode() in MONTHS:
        g = m.groups()
        try:
            return _epoch(int(g[2]), MONTHS[g[1].decode()], int(g[0]), int(g[3]), int(g[4]), int(g[5]), g[6], None)
        except (ValueError, OverflowError):
            return None
    return None


def parse_since(text, now=None):
    """--since: a duration back from now (90s, 10m, 2h, 1d, 250ms) or a time (ISO 8601, epoch)."""
    now = time.time() if now is None else now
    m = _DURATION.match(text.strip())
    if m:
        mult = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        return now - float(m.group(1)) * mult
    t = parse_time_value(text)
    if t is None:
        raise LogsError(f"--since {text!r}: expected a duration (10m, 2h, 90s) or a time "
                        "(2026-11-30T12:00:00Z, epoch seconds)")
    return t


_TS_FIRST = re.compile(rb'^\s*\{"ts":\s*"([^"]{10,40})"')


_SECONDS = {}   # "YYYY-MM-DDTHH:MM:SS" (UTC) -> epoch: lines share their seconds


def _utc_iso_fast(ts):
    """keel's own format, 2026-11-30T12:00:00.123456Z, without datetime (100k+ lines a second)."""
    if len(ts) < 20 or ts[-1:] != b"Z" or ts[10:11] != b"T":
        return None
    head, frac = ts[:19], ts[19:-1]
    base = _SECONDS.get(head)
    if base is None:
        try:
            base = calendar.timegm(time.strptime(head.decode(), "%Y-%m-%dT%H:%M:%S"))
        except ValueError:
            return None
        if len(_SECONDS) > 100000:
            _SECONDS.clear()
        _SECONDS[head] = base
    if not frac:
        return float(base)
    if frac[:1] != b"." or not frac[1:].isdigit():
        return None
    return base + float(b"0" + frac)


def line_time(line):
    """Only the time of a line (no filter needs its fields): keel's lines start with their ts."""
    m = _TS_FIRST.match(line)
    if m:
        t = _utc_iso_fast(m.group(1))
        if t is None:
            t = parse_iso(m.group(1).decode(errors="replace"))
        if t is not None:
            return t
    return parse_line(line)[1]


def parse_line(line):
    """(object or None, time or None) of one line."""
    s = line.lstrip()
    if s.startswith(b"{"):
        try:
            obj = json.loads(s)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            for k in ("ts", "msec", "time", "timestamp"):   # nginx: msec is finer than time
                if k in obj:
                    t = parse_time_value(obj[k])
                    if t is not None:
                        return obj, t
            return obj, None
    return None, text_time(line)


# -- filters -------------------------------------------------------------------------------
class Filter:
    """--trace / --correlation: a line matches when it carries any of the ids (JSON lines only)."""

    def __init__(self, traces=(), correlations=(), since=None):
        self.traces = [t.lower() for t in traces if t]
        self.correlations = [c for c in correlations if c]
        self.since = since
        self.needles = [x.encode() for x in self.traces + self.correlations]

    @property
    def by_id(self):
        return bool(self.needles)

    def match(self, line, obj):
        if not self.by_id:
            return True
        if obj is None or not any(n in line for n in self.needles):
            return False
        if self.traces:
            tid = str(obj.get("trace_id") or "").lower()
            tp = str(obj.get("traceparent") or "").lower()
            if tid in self.traces or any(t in tp for t in self.traces):
                return True
        if self.correlations:
            if obj.get("correlation_id") in self.correlations or obj.get("request_id") in self.correlations:
                return True
        return False


# -- sources ---------------------------------------------------------------------------------
class Source:
    def __init__(self, label, path, order):
        self.label, self.path, self.order = label, path, order

    def files(self):
        return rotated_paths(self.path)


def discover(var_dir, state=None):
    """Every log keel-stack knows: var/log/<name>.log (and rotated ones), the files a server writes
    itself (stack.json's `logs` while running, else nginx's default place)."""
    logdir = os.path.join(var_dir, "log")
    out = {}
    try:
        names = sorted(os.listdir(logdir))
    except OSError:
        names = []
    for n in names:
        base = re.sub(r"\.\d+$", "", n)
        if base.endswith(".log") and base[:-4] not in out:
            out[base[:-4]] = os.path.join(logdir, base)
    extra = (state or {}).get("logs") or {}
    if not extra:
        extra = {"gateway-access": os.path.join(var_dir, "nginx", "access.log"),
                 "gateway-error": os.path.join(var_dir, "nginx", "error.log")}
    for label, path in sorted(extra.items()):
        if label not in out and rotated_paths(path):
            out[label] = path
    return [Source(label, path, i) for i, (label, path) in enumerate(sorted(out.items()))]


def select(sources, names, extra_labels=()):
    """Sources of the named services (SVC: every replica and its server files; SVC-N or SVC#N: one).
    No names: all but keel-stack's own log (it repeats the others)."""
    if not names:
        return [s for s in sources if s.label != OWN_LOG]
    chosen, missing = [], []
    for name in names:
        name = name.replace("#", "-")
        hit = [s for s in sources if s.label == name or (
            s.label.startswith(name + "-") and (s.label[len(name) + 1:].isdigit() or s.label in extra_labels))]
        if name.endswith("-1"):   # SVC#1 of a single replica: its log is <svc>.log
            hit += [s for s in sources if s.label == name[:-2]]
        if not hit:
            missing.append(name)
        chosen += [s for s in hit if s not in chosen]
    if missing:
        raise LogsError(f"no log for {', '.join(missing)} (known: {', '.join(s.label for s in sources) or 'none'})")
    return sorted(chosen, key=lambda s: s.order)


# -- reading ---------------------------------------------------------------------------------
def read_lines(path, tail=None, limit=None):
    """Whole lines of a file (a last line without newline is left out: it is still being written).
    tail: only about the last `tail` lines (read from the end). limit: read up to that offset only
    (where `logs -f` goes on from)."""
    try:
        with open(path, "rb") as f:
            if tail is None:
                data = f.read() if limit is None else f.read(limit)
            else:
                f.seek(0, os.SEEK_END)
                end = f.tell() if limit is None else min(limit, f.tell())
                pos, chunks, newlines = end, [], 0
                while pos > 0 and newlines <= tail:
                    step = min(pos, 256 * 1024)
                    pos -= step
                    f.seek(pos)
                    chunks.append(f.read(step))
                    newlines += chunks[-1].count(b"\n")
                data = b"".join(reversed(chunks))
                if pos > 0:
                    data = data[data.index(b"\n") + 1:]
    except OSError:
        return []
    cut = data.rfind(b"\n") + 1
    return data[:cut].splitlines(keepends=True)


def records(source, flt, tail=None, limits=None):
    """[(time, source order, seq, label, line, obj)] of a source, oldest file first; a line
    without a time takes its predecessor's (before any: its successor's)."""
    raw = []
    files = source.files()
    if tail is not None:
        need, picked = tail, []
        for path in reversed(files):
            lines = read_lines(path, need, (limits or {}).get(path))
            picked = lines[-need:] + picked if need > 0 else picked
            need = tail - len(picked)
            if need <= 0:
                break
        raw = picked
    else:
        for path in files:
            try:   # every line of a file last written before --since is older
                if flt.since is not None and os.path.getmtime(path) < flt.since:
                    continue
            except OSError:
                continue
            raw += read_lines(path, None, (limits or {}).get(path))
    out, last, pending = [], None, []
    for seq, line in enumerate(raw):
        if flt.by_id and not any(n in line for n in flt.needles):
            continue   # most lines: no JSON parsing at all
        if flt.by_id:
            obj, t = parse_line(line)
            if not flt.match(line, obj):
                continue
        else:
            obj, t = None, line_time(line)
        if t is None:
            t = last
        else:
            last = t
            for rec in pending:
                rec[0] = t
            pending = []
        rec = [t, source.order, seq, source.label, line, obj]
        if t is None:
            pending.append(rec)
        out.append(rec)
    if flt.since is not None:
        out = [r for r in out if r[0] is not None and r[0] >= flt.since]
    return out


def merged(sources, flt, tail=None, limits=None):
    """Records of every source, in time order (a source without any time first, in its order)."""
    recs = []
    for s in sources:
        rs = records(s, flt, None if flt.by_id or flt.since is not None else tail, limits)
        if tail is not None and (flt.by_id or flt.since is not None):
            rs = rs[-tail:] if tail > 0 else []
        recs += rs
    recs.sort(key=lambda r: (r[0] is not None, r[0] or 0.0, r[1], r[2]))
    return recs


def fmt(rec, prefix):
    return (f"{rec[3]} | ".encode() if prefix else b"") + rec[4]


# -- follow --------------------------------------------------------------------------------
class Follower:
    """Follows one source's current file across rotations: what was written to the old file
    before it was renamed is read to its end first. A partial last line waits for its newline."""

    def __init__(self, source, at_end=True):
        self.source = source
        self.f = None
        self.ino = None
        self.buf = b""
        self._open(at_end)

    def _open(self, at_end):
        self.offset = 0
        try:
            self.f = open(self.source.path, "rb")
        except OSError:
            self.f, self.ino = None, None
            return
        self.ino = os.fstat(self.f.fileno()).st_ino
        if at_end:
            self.offset = self.f.seek(0, os.SEEK_END)

    def poll(self):
        lines = []
        if self.f is not None:
            lines += self._read()
        try:
            ino = os.stat(self.source.path).st_ino
        except OSError:
            ino = None
        if ino is not None and ino != self.ino:   # rotated (or created): the new file from its start
            if self.f is not None:
                lines += self._read()
                self.f.close()
                if self.buf:   # the old file ended without newline: keep what it had
                    lines.append(self.buf + b"\n")
                    self.buf = b""
            self._open(at_end=False)
            if self.f is not None:
                lines += self._read()
        return lines

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None

    def _read(self):
        data = self.buf + self.f.read()
        cut = data.rfind(b"\n") + 1
        self.buf = data[cut:]
        return data[:cut].splitlines(keepends=True)


def run(var_dir, names, flt, lines, follow_on, state_reader, out=None, stop=None, poll=FOLLOW_POLL):
    """`keel-stack logs`. lines: per instance, the last N (of the matching lines when filtered);
    None with a filter: all matching. With follow_on, what is written after the files were read is
    printed as it comes (the followers open first: no line falls between reading and following)."""
    write = out or (lambda b: (sys.stdout.buffer.write(b), sys.stdout.buffer.flush()))
    state = state_reader()
    extra = tuple((state or {}).get("logs") or ("gateway-access", "gateway-error"))
    sources = select(discover(var_dir, state), names, extra)
    if not sources and not follow_on:
        raise LogsError(f"no logs in {os.path.join(var_dir, 'log')}")
    prefix = len(sources) > 1 or flt.by_id
    followers = {s.label: Follower(s, at_end=True) for s in sources} if follow_on else {}
    limits = {f.source.path: f.offset for f in followers.values() if f.f is not None}
    recs = merged(sources, flt, lines, limits)
    if recs:
        write(b"".join(fmt(r, prefix) for r in recs))
    if not follow_on:
        return 0
    try:
        follow(var_dir, names, followers, extra, flt, prefix, write, state_reader, stop, poll)
    except KeyboardInterrupt:
        pass
    finally:
        for f in followers.values():
            f.close()
    return 0


def follow(var_dir, names, followers, extra, flt, prefix, write, state_reader, stop=None, poll=FOLLOW_POLL):
    """The logs being followed from where they were read; one that appears later (a scaled
    replica's) from its start."""
    last_scan = time.monotonic()
    while stop is None or not stop():
        if time.monotonic() - last_scan > RESCAN_EVERY:
            last_scan = time.monotonic()
            try:
                for s in select(discover(var_dir, state_reader()), names, extra):
                    if s.label not in followers:
                        followers[s.label] = Follower(s, at_end=False)
            except LogsError:
                pass
        batch = []
        for fol in followers.values():
            for line in fol.poll():
                obj, t = parse_line(line)
                if flt.match(line, obj) and (flt.since is None or t is None or t >= flt.since):
                    batch.append([t, fol.source.order, len(batch), fol.source.label, line, obj])
        if batch:
            batch.sort(key=lambda r: (r[0] is not None, r[0] or 0.0, r[1], r[2]))
            write(b"".join(fmt(r, prefix) for r in batch))
        else:
            time.sleep(poll)
