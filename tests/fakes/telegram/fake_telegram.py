#!/usr/bin/python3
"""A local fake of the Telegram Bot API for tests and native runs (standard library only).

    fake_telegram.py --port P [--host 127.0.0.1] [--token T | --token-env VAR] [--log FILE]

Bot API (what the notifications service uses):
  POST|GET /bot<token>/sendMessage   JSON, form or query parameters: chat_id, text, optional
                                     parse_mode, disable_notification -> the Message
  POST|GET /bot<token>/getMe         the bot
  anything else                      404 {"ok":false,"error_code":404,"description":"Not Found"}
  With --token (or --token-env: the token is read from that environment variable, so that it
  does not show in the process list), any other token gets 401
  {"ok":false,"error_code":401,"description":"Unauthorized"}. Without, any token is accepted.
Control endpoints (tests):
  GET    /_fake/messages[?chat_id=]  accepted messages, oldest first
  DELETE /_fake/messages             forget them (and truncate --log)
  POST   /_fake/fail                 {"count":n,"status":500|429|...,"retry_after":s}: the next n
                                     sendMessage calls fail the way Telegram does
  GET    /_fake/stats                sendMessage calls, failures, failures still queued
  GET    /healthz
--port 0 picks a free port. The first line on stdout is always "listening on http://HOST:PORT".
--log FILE: accepted messages are appended to FILE as JSON lines and read back on start.
"""
import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOT_PATH = re.compile(r"^/bot([^/]+)/([A-Za-z0-9_]+)/?$")
MAX_BODY = 1 << 20
DESCRIPTIONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden: bot was blocked by the user",
                404: "Not Found", 409: "Conflict", 500: "Internal Server Error", 502: "Bad Gateway",
                503: "Service Unavailable"}


class State:
    def __init__(self, token=None, log_path=None):
        self.token = token
        self.log_path = log_path
        self.lock = threading.Lock()
        self.messages = []
        self.next_id = 1
        self.failures = []          # queued injected failures: [{"status", "retry_after"}]
        self.send_calls = 0
        self.send_failed = 0
        if log_path and os.path.exists(log_path):
            with open(log_path, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        m = json.loads(line)
                    except ValueError:
                        continue    # a torn last line after a crash
                    self.messages.append(m)
                    self.next_id = max(self.next_id, int(m.get("message_id", 0)) + 1)

    def accept(self, chat_id, text, extra):
        with self.lock:
            m = {"chat_id": chat_id, "text": text, "message_id": self.next_id, "date": int(time.time())}
            m.update(extra)
            self.next_id += 1
            self.messages.append(m)
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(m, ensure_ascii=False) + "\n")
            return m

    def clear(self):
        with self.lock:
            n = len(self.messages)
            self.messages = []
            if self.log_path:
                open(self.log_path, "w").close()
            return n


def chat_id_value(v):
    """Telegram chat ids are integers, or "@channelusername"."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    s = str(v).strip()
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    return s or None


def truthy(v):
    return v is True or str(v).lower() in ("1", "true", "yes", "on")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-telegram/1"
    state = None  # set by serve()

    # -- plumbing --------------------------------------------------------------------
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def send_json(self, status, obj, headers=None):
        body = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, code, description=None, parameters=None, headers=None):
        obj = {"ok": False, "error_code": code, "description": description or DESCRIPTIONS.get(code, "Error")}
        if parameters:
            obj["parameters"] = parameters
        self.send_json(code, obj, headers)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(n) if n > 0 else b""

    def params(self, query, body):
        """Query parameters, then the body (JSON or form) over them, like the Bot API."""
        out = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
        if not body:
            return out
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/json":
            data = json.loads(body.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("JSON body must be an object")
            out.update(data)
        else:  # application/x-www-form-urlencoded (curl -d) or unspecified
            out.update({k: v[-1] for k, v in
                        urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True).items()})
        return out

    # -- routing ---------------------------------------------------------------------
    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_DELETE(self):
        self.route()

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            return self.error(400, "Bad Request: request body too large")
        path = url.path
        if path == "/healthz" and self.command == "GET":
            return self.send_json(200, {"ok": True})
        if path.startswith("/_fake/"):
            return self.control(path, url.query, body)
        m = BOT_PATH.match(path)
        if not m or self.command not in ("GET", "POST"):
            return self.error(404)
        token, method = m.group(1), m.group(2)
        st = self.state
        if st.token is not None and token != st.token:
            return self.error(401)
        try:
            params = self.params(url.query, body)
        except (ValueError, UnicodeDecodeError):
            return self.error(400, "Bad Request: can't parse JSON object")
        if method.lower() == "getme":
            return self.get_me(token)
        if method.lower() == "sendmessage":
            return self.send_message(params)
        return self.error(404)

    # -- Bot API ---------------------------------------------------------------------
    def get_me(self, token):
        head = token.split(":", 1)[0]
        return self.send_json(200, {"ok": True, "result": {
            "id": int(head) if head.isdigit() else 1000001, "is_bot": True, "first_name": "keel fake bot",
            "username": "keel_fake_bot", "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False}})

    def send_message(self, p):
        st = self.state
        with st.lock:
            st.send_calls += 1
            fail = st.failures.pop(0) if st.failures else None
            if fail:
                st.send_failed += 1
        if fail:
            status = fail["status"]
            if status == 429:
                ra = fail["retry_after"]
                return self.error(429, f"Too Many Requests: retry after {ra}", {"retry_after": ra},
                                  {"Retry-After": str(ra)})
            return self.error(status)
        chat_id = chat_id_value(p.get("chat_id")) if p.get("chat_id") is not None else None
        if chat_id is None:
            return self.error(400, "Bad Request: chat_id is empty")
        text = p.get("text")
        if text is None or str(text) == "":
            return self.error(400, "Bad Request: message text is empty")
        text = str(text)
        extra = {}
        if p.get("parse_mode") not in (None, ""):
            extra["parse_mode"] = str(p["parse_mode"])
        if p.get("disable_notification") is not None:
            extra["disable_notification"] = truthy(p["disable_notification"])
        m = st.accept(chat_id, text, extra)
        return self.send_json(200, {"ok": True, "result": {
            "message_id": m["message_id"], "date": m["date"],
            "chat": {"id": chat_id, "type": "private"}, "text": text}})

    # -- control endpoints -------------------------------------------------------------
    def control(self, path, query, body):
        st = self.state
        if path == "/_fake/messages" and self.command == "GET":
            q = urllib.parse.parse_qs(query)
            with st.lock:
                msgs = list(st.messages)
            if "chat_id" in q:
                want = chat_id_value(q["chat_id"][-1])
                msgs = [m for m in msgs if m["chat_id"] == want]
            return self.send_json(200, msgs)
        if path == "/_fake/messages" and self.command == "DELETE":
            return self.send_json(200, {"ok": True, "deleted": st.clear()})
        if path == "/_fake/fail" and self.command == "POST":
            try:
                spec = json.loads(body.decode("utf-8") or "{}")
                count = int(spec.get("count", 1))
                status = int(spec.get("status", 500))
                retry_after = int(spec.get("retry_after", 1))
                if count < 0 or not 400 <= status <= 599 or retry_after < 0:
                    raise ValueError
            except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
                return self.send_json(400, {"ok": False, "description": "expected {\"count\":n,\"status\":"
                                            "400..599,\"retry_after\":s}"})
            with st.lock:
                st.failures.extend({"status": status, "retry_after": retry_after} for _ in range(count))
                pending = len(st.failures)
            return self.send_json(200, {"ok": True, "pending": pending})
        if path == "/_fake/stats" and self.command == "GET":
            with st.lock:
                return self.send_json(200, {"send_message_calls": st.send_calls, "failed": st.send_failed,
                                            "pending_failures": len(st.failures),
                                            "messages": len(st.messages)})
        return self.send_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})


def serve(host, port, token=None, log_path=None):
    """Start in a background thread; returns (server, url). For use from Python tests too."""
    handler = type("BoundHandler", (Handler,), {"state": State(token, log_path)})
    srv = ThreadingHTTPServer((host, port), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://{host}:{srv.server_address[1]}"


def main(argv=None):
    p = argparse.ArgumentParser(description="Fake Telegram Bot API")
    p.add_argument("--port", type=int, required=True, help="0: a free port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--token", help="accept only this bot token (default: any)")
    p.add_argument("--token-env", metavar="VAR", help="accept only the bot token in environment variable VAR")
    p.add_argument("--log", help="append accepted messages to this JSON-lines file (read back on start)")
    a = p.parse_args(argv)
    if a.token_env:
        if a.token:
            p.error("--token and --token-env exclude each other")
        a.token = os.environ.get(a.token_env)
        if not a.token:
            p.error(f"--token-env: {a.token_env} is not set")
    if a.log:
        os.makedirs(os.path.dirname(os.path.abspath(a.log)), exist_ok=True)
    srv, url = serve(a.host, a.port, a.token or None, a.log)
    print(f"listening on {url}", flush=True)
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    while not stop.wait(3600):
        pass
    srv.shutdown()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
