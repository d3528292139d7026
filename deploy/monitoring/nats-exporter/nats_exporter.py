#!/usr/bin/python3
"""A Prometheus exporter for NATS JetStream (there is no packaged one): on every scrape it reads
/varz and /jsz?accounts=true&streams=true&consumers=true of every node's monitoring port and
answers in the Prometheus text format. Python standard library only (runs from the repo natively
and in a python:alpine container). README.md beside it lists the metrics.

    nats_exporter.py --listen 127.0.0.1:7777 [--urls http://127.0.0.1:8222,...]

--urls defaults to $NATS_MONITOR_URLS (keel-stack exports it from the nats nodes). A node that
does not answer gives nats_up{url} 0 and no other series, and the scrape still succeeds: the
exporter's own `up` says whether the exporter works, nats_up whether each node does.
"""
import argparse
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# name: (type, help); the order here is the order of the output
FAMILIES = {
    "nats_up": ("gauge", "1 when the node's monitoring endpoint answered this scrape"),
    "nats_server_info": ("gauge", "The node's name, version and cluster (always 1)"),
    "nats_connections": ("gauge", "Client connections open now"),
    "nats_slow_consumers_total": ("counter", "Clients the node disconnected as slow consumers"),
    "nats_in_msgs_total": ("counter", "Messages received by the node"),
    "nats_out_msgs_total": ("counter", "Messages sent by the node"),
    "nats_in_bytes_total": ("counter", "Bytes received by the node"),
    "nats_out_bytes_total": ("counter", "Bytes sent by the node"),
    "nats_memory_bytes": ("gauge", "Resident memory of the nats-server process"),
    "nats_jetstream_memory_bytes": ("gauge", "JetStream memory store in use"),
    "nats_jetstream_storage_bytes": ("gauge", "JetStream file store in use"),
    "nats_jetstream_max_memory_bytes": ("gauge", "JetStream memory store limit"),
    "nats_jetstream_max_storage_bytes": ("gauge", "JetStream file store limit"),
    "nats_jetstream_api_requests_total": ("counter", "JetStream API requests"),
    "nats_jetstream_api_errors_total": ("counter", "JetStream API requests that failed"),
    "nats_jetstream_stream_messages": ("gauge", "Messages in the stream (this node's copy)"),
    "nats_jetstream_stream_bytes": ("gauge", "Bytes in the stream (this node's copy)"),
    "nats_jetstream_stream_first_seq": ("gauge", "First sequence number in the stream"),
    "nats_jetstream_stream_last_seq": ("gauge", "Last sequence number in the stream"),
    "nats_jetstream_stream_consumers": ("gauge", "Consumers of the stream"),
    "nats_jetstream_stream_leader": ("gauge", "1 on the node that leads the stream (its numbers are current)"),
    "nats_jetstream_consumer_num_pending": ("gauge", "Messages of the stream the consumer has not been delivered yet"),
    "nats_jetstream_consumer_num_ack_pending": ("gauge", "Messages delivered and not yet acknowledged"),
    "nats_jetstream_consumer_num_redelivered": ("gauge", "Messages delivered more than once and not yet acknowledged"),
    "nats_jetstream_consumer_num_waiting": ("gauge", "Pull requests waiting"),
    "nats_jetstream_consumer_delivered_total": ("counter", "Deliveries by the consumer (its consumer sequence)"),
    "nats_jetstream_consumer_ack_floor_stream_seq": ("gauge", "Stream sequence up to which everything is acknowledged"),
    "nats_jetstream_consumer_leader": ("gauge", "1 on the node that leads the consumer (its numbers are current)"),
}


def escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def number(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


class Samples:
    def __init__(self):
        self.by_family = {name: [] for name in FAMILIES}

    def add(self, name, labels, value):
        if value is None:
            return
        self.by_family[name].append((labels, value))

    def text(self):
        out = []
        for name, (kind, help_text) in FAMILIES.items():
            rows = self.by_family[name]
            if not rows:
                continue
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            for labels, value in rows:
                lbl = ",".join(f'{k}="{escape(v)}"' for k, v in labels.items())
                out.append(f"{name}{{{lbl}}} {number(value)}" if lbl else f"{name} {number(value)}")
        return "\n".join(out) + "\n"


def fetch_json(url, timeout):
    with _NO_PROXY.open(url, timeout=timeout) as r:
        return json.loads(r.read().decode("utf-8"))


def scrape_node(url, timeout):
    """(varz, jsz) of one node; raises when it does not answer."""
    base = url.rstrip("/")
    varz = fetch_json(base + "/varz", timeout)
    jsz = fetch_json(base + "/jsz?accounts=true&streams=true&consumers=true", timeout)
    return varz, jsz


def node_samples(samples, url, varz, jsz):
    server = varz.get("server_name") or varz.get("server_id") or url
    s = {"server": server}
    samples.add("nats_up", {"url": url, "server": server}, 1)
    samples.add("nats_server_info", {"server": server, "version": varz.get("version", ""),
                                     "cluster": (varz.get("cluster") or {}).get("name", "")}, 1)
    samples.add("nats_connections", s, varz.get("connections"))
    samples.add("nats_slow_consumers_total", s, varz.get("slow_consumers"))
    samples.add("nats_in_msgs_total", s, varz.get("in_msgs"))
    samples.add("nats_out_msgs_total", s, varz.get("out_msgs"))
    samples.add("nats_in_bytes_total", s, varz.get("in_bytes"))
    samples.add("nats_out_bytes_total", s, varz.get("out_bytes"))
    samples.add("nats_memory_bytes", s, varz.get("mem"))
    if not jsz or jsz.get("disabled"):
        return
    samples.add("nats_jetstream_memory_bytes", s, jsz.get("memory"))
    samples.add("nats_jetstream_storage_bytes", s, jsz.get("storage"))
    cfg = jsz.get("config") or {}
    samples.add("nats_jetstream_max_memory_bytes", s, cfg.get("max_memory"))
    samples.add("nats_jetstream_max_storage_bytes", s, cfg.get("max_storage"))
    api = jsz.get("api") or {}
    samples.add("nats_jetstream_api_requests_total", s, api.get("total"))
    samples.add("nats_jetstream_api_errors_total", s, api.get("errors"))
    for acc in jsz.get("account_details") or []:
        account = acc.get("name") or acc.get("id") or ""
        for st in acc.get("stream_detail") or []:
            stream = st.get("name", "")
            state = st.get("state") or {}
            ls = {"server": server, "account": account, "stream": stream}
            samples.add("nats_jetstream_stream_messages", ls, state.get("messages"))
            samples.add("nats_jetstream_stream_bytes", ls, state.get("bytes"))
            samples.add("nats_jetstream_stream_first_seq", ls, state.get("first_seq"))
            samples.add("nats_jetstream_stream_last_seq", ls, state.get("last_seq"))
            samples.add("nats_jetstream_stream_consumers", ls, state.get("consumer_count"))
            samples.add("nats_jetstream_stream_leader", ls,
                        1 if (st.get("cluster") or {}).get("leader") == server else 0)
            for c in st.get("consumer_detail") or []:
                lc = dict(ls, consumer=c.get("name", ""))
                samples.add("nats_jetstream_consumer_num_pending", lc, c.get("num_pending"))
                samples.add("nats_jetstream_consumer_num_ack_pending", lc, c.get("num_ack_pending"))
                samples.add("nats_jetstream_consumer_num_redelivered", lc, c.get("num_redelivered"))
                samples.add("nats_jetstream_consumer_num_waiting", lc, c.get("num_waiting"))
                samples.add("nats_jetstream_consumer_delivered_total", lc, (c.get("delivered") or {}).get("consumer_seq"))
                samples.add("nats_jetstream_consumer_ack_floor_stream_seq", lc,
                            (c.get("ack_floor") or {}).get("stream_seq"))
                samples.add("nats_jetstream_consumer_leader", lc,
                            1 if (c.get("cluster") or {}).get("leader", server) == server else 0)


def collect(urls, timeout=3.0):
    """The exposition text for these monitoring URLs (nodes asked in parallel)."""
    samples = Samples()
    with ThreadPoolExecutor(max_workers=max(1, len(urls))) as pool:
        futures = [(url, pool.submit(scrape_node, url, timeout)) for url in urls]
        for url, fut in futures:
            try:
                varz, jsz = fut.result()
            except (OSError, urllib.error.URLError, ValueError) as e:
                print(f"nats-exporter: {url}: {e}", file=sys.stderr, flush=True)
                samples.add("nats_up", {"url": url, "server": ""}, 0)
                continue
            node_samples(samples, url, varz, jsz)
    return samples.text()


def make_server(listen, urls, timeout):
    host, _, port = listen.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body, ctype, status = collect(urls, timeout).encode(), CONTENT_TYPE, 200
            elif path == "/healthz":
                body, ctype, status = b"ok\n", "text/plain", 200
            else:
                body, ctype, status = (b'{"type":"about:blank","title":"Not Found","status":404}',
                                       "application/problem+json", 404)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            pass   # one line per scrape would drown the log

    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    server.daemon_threads = True
    return server


def parse_urls(text):
    return [u.strip() for u in (text or "").split(",") if u.strip()]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", required=True, help="host:port to serve /metrics and /healthz on")
    p.add_argument("--urls", default=os.environ.get("NATS_MONITOR_URLS", ""),
                   help="the nodes' monitoring URLs, comma-separated (default $NATS_MONITOR_URLS)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds per node and request (3)")
    args = p.parse_args(argv)
    urls = parse_urls(args.urls)
    if not urls:
        print("nats-exporter: no monitoring URL (--urls or NATS_MONITOR_URLS)", file=sys.stderr)
        return 2
    try:
        server = make_server(args.listen, urls, args.timeout)
    except (OSError, ValueError) as e:
        print(f"nats-exporter: cannot listen on {args.listen}: {e}", file=sys.stderr)
        return 2
    print(f"nats-exporter: serving http://{args.listen}/metrics for {', '.join(urls)}", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
