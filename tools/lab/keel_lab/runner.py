"""Every command the lab runs goes through here, so that the report can list them all, with the
secrets they carry replaced by the name of their variable."""
import os
import shlex
import subprocess
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


class LabError(Exception):
    pass


class Recorder:
    def __init__(self, log=None):
        self.commands = []      # {"cmd", "seconds", "rc", "what"}
        self.secrets = {}       # value -> $NAME
        self.log = log          # callable(str) for progress lines

    def secret(self, name, value):
        if value:
            self.secrets[value] = f"${name}"

    def mask(self, text):
        for value, name in self.secrets.items():
            text = text.replace(value, name)
        return text

    def say(self, msg):
        if self.log:
            self.log(msg)

    def text(self, argv, env_note=None):
        cmd = " ".join(shlex.quote(str(a)) for a in argv)
        if env_note:
            cmd = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in env_note.items()) + " " + cmd
        return self.mask(cmd)

    def record(self, argv, seconds, rc, what="", env_note=None):
        self.commands.append({"cmd": self.text(argv, env_note), "seconds": seconds, "rc": rc, "what": what})

    def run(self, argv, what="", env=None, env_note=None, timeout=300, check=True):
        t0 = time.monotonic()
        try:
            p = subprocess.run([str(a) for a in argv], cwd=REPO, env=env, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            self.record(argv, time.monotonic() - t0, "timeout", what, env_note)
            raise LabError(f"{what or argv[0]}: no answer within {timeout} s: {self.text(argv)}")
        self.record(argv, time.monotonic() - t0, p.returncode, what, env_note)
        if check and p.returncode != 0:
            raise LabError(f"{what or argv[0]} failed (exit {p.returncode}): {self.text(argv)}\n"
                           f"{self.mask(p.stdout.strip())[-3000:]}\n{self.mask(p.stderr.strip())[-3000:]}")
        return p
