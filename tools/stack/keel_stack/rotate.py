"""Size-rotated logs: the files keel-stack writes for its children, the files a server writes
itself (nginx), and the bounded echo of the children's output to keel-stack's own output.

keel-stack reads every child's stdout+stderr pipe and writes the file itself, so a child never
sees its log rotate: it keeps writing into the same pipe. Rotation happens between whole lines:
<name>.log -> <name>.log.1 -> ... -> <name>.log.<files-1>, the oldest dropped (KEEL_LOG_FILES files
of at most about KEEL_LOG_MAX_BYTES each: docker's max-file / max-size)."""
import collections
import os
import signal
import threading
import time

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_FILES = 3
READ_CHUNK = 64 * 1024
# A "line" longer than this (a child writing without newlines) is cut: the pump never holds more
# than this per child.
MAX_LINE = 256 * 1024
ECHO_MAX_BYTES = 1024 * 1024   # what may wait for a slow terminal before lines are dropped
ECHO_MAX_NOTICES = 10000       # keel-stack's own messages: never dropped, but bounded anyway
WATCH_INTERVAL = 1.0


def limits(env=None):
    """(max_bytes, files) from KEEL_LOG_MAX_BYTES / KEEL_LOG_FILES (a bad value: the default)."""
    env = os.environ if env is None else env

    def num(name, default, least):
        try:
            v = int(str(env.get(name, "")).strip() or default)
        except ValueError:
            return default
        return v if v >= least else default
    return num("KEEL_LOG_MAX_BYTES", DEFAULT_MAX_BYTES, 1), num("KEEL_LOG_FILES", DEFAULT_FILES, 1)


def shift(path, files):
    """path.(files-2) -> path.(files-1), ..., path -> path.1 (the oldest is replaced). With files=1
    nothing is kept: path is removed."""
    if files <= 1:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    for i in range(files - 1, 0, -1):
        src = path if i == 1 else f"{path}.{i - 1}"
        try:
            os.replace(src, f"{path}.{i}")
        except FileNotFoundError:
            pass


def rotated_paths(path):
    """path's files, oldest first: path.N ... path.1, path (those that exist)."""
    d, base = os.path.split(path)
    try:
        names = os.listdir(d or ".")
    except OSError:
        return []
    nums = sorted((int(n[len(base) + 1:]) for n in names
                   if n.startswith(base + ".") and n[len(base) + 1:].isdigit()), reverse=True)
    out = [os.path.join(d, f"{base}.{i}") for i in nums]
    if base in names:
        out.append(path)
    return out


def tail(path, n, window=64 * 1024):
    """The last n lines (text) of path and, if it has fewer, of its rotated predecessors."""
    lines = []
    for p in reversed(rotated_paths(path)):
        try:
            with open(p, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - window))
                lines = f.read().decode(errors="replace").splitlines() + lines
        except OSError:
            continue
        if len(lines) >= n:
            break
    return lines[-n:]


class RotatingFile:
    """Appends whole lines to `path`, rotating before a line would take it over max_bytes. Shared
    by every writer of the path (a replica and its init/post_start steps): one lock."""

    def __init__(self, path, max_bytes=None, files=None, on_rotate=None):
        dm, df = limits()
        self.path = path
        self.max_bytes = max_bytes or dm
        self.files = files or df
        self.on_rotate = on_rotate   # called with the new file's descriptor (the daemon's fd 1/2)
        self.lock = threading.Lock()
        self.f = None
        self.size = 0
        self.rotations = 0

    def _open(self):
        self.f = open(self.path, "ab")
        self.size = os.fstat(self.f.fileno()).st_size
        if self.on_rotate:
            self.on_rotate(self.f.fileno())

    def ensure(self):
        """Create the file now (a replica's log exists from its start, output or not)."""
        with self.lock:
            if self.f is None:
                try:
                    self._open()
                except OSError:
                    pass
        return self

    def _rotate(self):
        self.f.close()
        self.f = None
        shift(self.path, self.files)
        self.rotations += 1
        self._open()

    def write_lines(self, lines):
        """lines: bytes, each ending with a newline."""
        if not lines:
            return
        with self.lock:
            try:
                if self.f is None:
                    self._open()
                batch, n = [], 0
                for line in lines:
                    if self.size + n + len(line) > self.max_bytes and self.size + n > 0:
                        if batch:
                            self.f.write(b"".join(batch))
                            self.size += n
                            batch, n = [], 0
                        self.f.flush()
                        self._rotate()
                    batch.append(line)
                    n += len(line)
                self.f.write(b"".join(batch))
                self.f.flush()
                self.size += n
            except (OSError, ValueError):
                pass   # a full disk must not stop the child: its output is lost, it runs on

    def close(self):
        with self.lock:
            if self.f:
                self.f.close()
                self.f = None


class LineSplitter:
    """Bytes from a pipe -> whole lines; a partial last line waits for its end (at most MAX_LINE)."""

    def __init__(self, max_line=MAX_LINE):
        self.buf = b""
        self.max_line = max_line

    def feed(self, chunk):
        data = self.buf + chunk
        cut = data.rfind(b"\n") + 1
        lines = data[:cut].splitlines(keepends=True)
        self.buf = data[cut:]
        while len(self.buf) > self.max_line:
            lines.append(self.buf[:self.max_line] + b"\n")
            self.buf = self.buf[self.max_line:]
        return lines

    def end(self):
        """The child closed its output: a last line without newline gets one (so the next run's
        first line does not glue onto it)."""
        rest, self.buf = self.buf, b""
        return [rest + b"\n"] if rest else []


def pump(fd, sink, echo=None, label=None):
    """Read child output from descriptor fd until EOF into sink (a RotatingFile) and, if echo, into
    the echo queue. Never blocks on anything but the disk."""
    split = LineSplitter()
    while True:
        try:
            chunk = os.read(fd, READ_CHUNK)
        except InterruptedError:
            continue
        except OSError:
            chunk = b""
        lines = split.feed(chunk) if chunk else split.end()
        if lines:
            sink.write_lines(lines)
            if echo is not None:
                echo.put(label, lines)
        if not chunk:
            return


class Echo:
    """keel-stack's own output (the terminal, or keel-stack.log when detached): the children's lines
    prefixed with their label, written by one thread from a bounded queue. When whoever reads it
    stalls (a paused terminal, `keel-stack up | less`), lines beyond ECHO_MAX_BYTES are dropped and
    counted instead of blocking the pumps, hence the children; every line is still in var/log.
    keel-stack's own messages (droppable=False) are not dropped."""

    def __init__(self, write, max_bytes=ECHO_MAX_BYTES):
        self.write = write   # write(bytes): one prefixed line
        self.max_bytes = max_bytes
        self.q = collections.deque()
        self.queued = 0
        self.notices = 0
        self.dropped = 0
        self.busy = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="echo", daemon=True)
        self.thread.start()

    def put(self, label, lines, droppable=True):
        with self.cond:
            for line in lines:
                if not line.endswith(b"\n"):
                    line += b"\n"
                item = f"{label} | ".encode() + line
                if droppable:
                    if self.queued + len(item) > self.max_bytes:
                        self.dropped += 1
                        continue
                    self.queued += len(item)
                elif self.notices >= ECHO_MAX_NOTICES:
                    self.dropped += 1
                    continue
                else:
                    self.notices += 1
                self.q.append((item, droppable))
            self.cond.notify()

    def _run(self):
        while True:
            with self.cond:
                while not self.q and not self.dropped:
                    self.cond.wait()
                items = list(self.q)
                self.q.clear()
                self.queued = self.notices = 0
                dropped, self.dropped = self.dropped, 0
                self.busy = True
            if dropped:
                items.insert(0, (f"keel-stack | {dropped} lines of output dropped: the output was not "
                                 "read fast enough (all of them are in var/log)\n".encode(), False))
            for item, _ in items:
                try:
                    self.write(item)
                except (OSError, ValueError):
                    pass
            with self.cond:
                self.busy = False
                self.cond.notify_all()

    def drain(self, timeout=2.0):
        """Wait (bounded) until what was queued has been written."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.q or self.busy or self.dropped:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True


class FileWatcher:
    """Rotates the files a server writes itself (nginx's access and error logs): when one is over
    max_bytes it is renamed (path -> path.1 ...) and the server is told to reopen its files
    (nginx: SIGUSR1). Until it has, it writes on into path.1: no line is lost."""

    def __init__(self, max_bytes=None, files=None, interval=WATCH_INTERVAL):
        dm, df = limits()
        self.max_bytes = max_bytes or dm
        self.files = files or df
        self.interval = interval
        self.watched = []   # (path, pids(), signal)
        self.lock = threading.Lock()
        self.thread = None

    def add(self, path, pids, sig=signal.SIGUSR1):
        if not path or not os.path.isabs(path) or path.startswith("/dev/"):
            return
        with self.lock:
            if any(w[0] == path for w in self.watched):
                return
            self.watched.append((path, pids, sig))

    def check(self):
        """One pass; returns the paths rotated."""
        done = []
        with self.lock:
            watched = list(self.watched)
        for path, pids, sig in watched:
            try:
                if os.path.getsize(path) <= self.max_bytes:
                    continue
            except OSError:
                continue
            shift(path, self.files)
            for pid in pids():
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            done.append(path)
        return done

    def start(self, stop_event):
        def run():
            while not stop_event.wait(self.interval):
                self.check()
        self.thread = threading.Thread(target=run, name="log-watch", daemon=True)
        self.thread.start()
