"""What the figures were measured on: they move with the machine, so the report starts with it."""
import os
import platform
import subprocess

from .runner import REPO


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def git(*args):
    try:
        p = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=20)
        return p.stdout.strip() if p.returncode == 0 else None
    except OSError:
        return None


def describe():
    commit = git("rev-parse", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    mem = mem_total_gib()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory": f"{mem:.1f} GiB" if mem else "unknown",
        "kernel": f"{platform.system()} {platform.release()}",
        "os": _os_release(),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "subject": git("log", "-1", "--format=%s") or "",
        "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "",
    }


def _os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"
