"""The reference every figure is divided by: a bare nginx answering `return 200` on a free port,
measured with the same keel-load, on the same cores, in the same run."""
import os
import subprocess
import time
import urllib.request

from .runner import LabError
from .stack import free_port

NGINX = "/usr/sbin/nginx"
CONF = """worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body_temp;
    proxy_temp_path       {prefix}/proxy_temp;
    fastcgi_temp_path     {prefix}/fastcgi_temp;
    uwsgi_temp_path       {prefix}/uwsgi_temp;
    scgi_temp_path        {prefix}/scgi_temp;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{
            default_type text/plain;
            return 200 "ok\\n";
        }}
    }}
}}
"""


class StaticNginx:
    def __init__(self, rec, run_dir):
        self.rec = rec
        self.prefix = os.path.join(run_dir, "nginx-static")
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        os.makedirs(self.prefix, exist_ok=True)
        conf = os.path.join(self.prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(prefix=self.prefix, port=self.port))
        argv = [NGINX, "-p", self.prefix, "-c", conf, "-g", "daemon off;"]
        self.rec.record(argv, 0.0, "started", "nginx static reference (config beside the report: nginx-static/nginx.conf)")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.prefix, "stderr.log"), "w"))
        deadline = time.monotonic() + 10
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LabError(f"nginx static reference exited {self.proc.returncode}; see {self.prefix}/stderr.log")
            try:
                if opener.open(self.url + "/", timeout=1).status == 200:
                    return self
            except OSError:
                time.sleep(0.05)
        raise LabError("nginx static reference did not answer within 10 s")

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def measure(lab):
    """Throughput (open loop far above what it can serve, at most 256 in flight) and latency at
    1000 rps of the bare nginx; every keel figure is also given as a ratio to these."""
    with StaticNginx(lab.rec, lab.run_dir) as ng:
        top = lab.load.run("nginx-static-max", "open", lab.plan.ref_s, "nginx static return 200, as fast as it goes",
                           warmup_s=1, url=ng.url, scenario="static", path="/", rate=100000, connections=64,
                           max_in_flight=256)
        mid = lab.load.run("nginx-static-1000", "open", lab.plan.ref_s, "nginx static return 200 at 1000 rps",
                           warmup_s=1, url=ng.url, scenario="static", path="/", rate=1000, connections=64)
    lat = mid.get("latency_ms") or {}
    lab.ref = {"rps": top.get("throughput_rps"), "p50": lat.get("p50"), "p99": lat.get("p99"),
               "max": top, "mid": mid}
