"""CPU and memory of every stack process while a load runs: /proc/<pid>/stat (CPU time) and
smaps_rollup (PSS) of each replica and of its descendants (PostgreSQL's backends, nginx's workers),
sampled every second."""
import os
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def read_all():
    """{pid: (ppid, cpu seconds, rss bytes)} of every process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                rest = f.read().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields after the command: state ppid ... utime(11) stime(12) ... rss(21)
        out[int(name)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK, int(rest[21]) * PAGE)
    return out


def pss_of(pid):
    """Proportional set size in bytes (/proc/<pid>/smaps_rollup): RSS with each shared page divided
    among the processes sharing it, so that a tree's sum does not count PostgreSQL's shared buffers
    once per backend. None when unreadable (the process is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return 0


class Sampler:
    """roots: {label: pid}. stop() returns {label: {"cpu_s", "cpu_pct", "rss_mb", "procs"}}: cpu_pct
    is of one core (200 % = both cores of a 2-core machine), rss_mb the peak of the tree's summed
    PSS (its RSS when PSS is unreadable)."""

    def __init__(self, roots, every=1.0):
        self.roots, self.every = dict(roots), every
        self.first, self.last, self.rss, self.procs = {}, {}, {}, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self.t0 = time.monotonic()
        self._initial = True
        self._sample()
        self._initial = False
        self._thread.start()
        return self

    def add(self, label, pid):
        self.roots[label] = pid

    def _tree(self, table):
        children = {}
        for pid, (ppid, _, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        out = {}
        for label, root in self.roots.items():
            pids, todo = [], [root]
            while todo:
                p = todo.pop()
                if p in table:
                    pids.append(p)
                    todo += children.get(p, [])
            out[label] = pids
        return out

    def _sample(self):
        table = read_all()
        for label, pids in self._tree(table).items():
            rss = 0
            for p in pids:
                cpu = table[p][1]
                # a process born during the run counts from zero; one that died keeps its last value
                self.first.setdefault((label, p), cpu if self._initial else 0.0)
                self.last[(label, p)] = cpu
                pss = pss_of(p)
                rss += table[p][2] if pss is None else pss
            self.rss[label] = max(self.rss.get(label, 0), rss)
            self.procs[label] = max(self.procs.get(label, 0), len(pids))

    def _loop(self):
        while not self._stop.wait(self.every):
            self._sample()

    def stop(self):
        self._stop.set()
        self._thread.join()
        self._sample()
        wall = max(1e-6, time.monotonic() - self.t0)
        out = {}
        for (label, pid), cpu in self.last.items():
            d = out.setdefault(label, {"cpu_s": 0.0})
            d["cpu_s"] += cpu - self.first[(label, pid)]
        for label, d in out.items():
            d["cpu_pct"] = 100.0 * d["cpu_s"] / wall
            d["rss_mb"] = self.rss.get(label, 0) / 2**20
            d["procs"] = self.procs.get(label, 0)
        return out
