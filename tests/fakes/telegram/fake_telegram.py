#!/usr/bin/python3
"""A local fake of the Telegram Bot API for tests and native runs (standard library only).

    fake_telegram.py --port P [--host 127.0.0.1] [--token T]... [--token-env VAR]... [--log FILE]

Bot API:
  POST|GET /bot<token>/sendMessage   JSON, form or query parameters: chat_id, text, optional
                                     parse_mode (HTML is checked: unknown or unbalanced tags are
                                     400 "can't parse entities"), message_thread_id,
                                     disable_notification -> the Message
  POST|GET /bot<token>/getUpdates    offset (confirms every update below it), timeout (long poll:
                                     up to that many seconds, answered as soon as an update
                                     arrives), limit (1..100) -> the bot's unconfirmed updates.
                                     A second poll of the same bot ends the first with 409
                                     "Conflict: terminated by other getUpdates request", as
                                     Telegram does.
  POST|GET /bot<token>/getMe         the bot
  anything else                      404 {"ok":false,"error_code":404,"description":"Not Found"}
  --token and --token-env are repeatable: several bots, each with its own updates queue (a bot's
  id is the numeric part of its token). --token-env reads the token from that environment
  variable, so that it does not show in the process list. With any, another token gets 401
  {"ok":false,"error_code":401,"description":"Unauthorized"}; with none, any token is accepted.
Control endpoints (tests):
  GET    /_fake/messages[?chat_id=&bot_id=&message_thread_id=]  accepted messages, oldest first
  DELETE /_fake/messages             forget them (and truncate --log)
  POST   /_fake/updates              {"token" or "bot_id", "chat_id", "text", "from": {...},
                                     "chat_type", "message_thread_id"}: a user's message to the
                                     bot; returns the update (bot_id may be left out with one bot)
  GET    /_fake/updates[?bot_id=]    updates not yet confirmed by getUpdates
  POST   /_fake/fail                 {"count":n,"status":500|429|...,"retry_after":s}: the next n
                                     sendMessage calls fail the way Telegram does
  GET    /_fake/stats                sendMessage and getUpdates calls, failures, failures queued
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
import zlib
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOT_PATH = re.compile(r"^/bot([^/]+)/([A-Za-z0-9_]+)/?$")
MAX_BODY = 1 << 20
MAX_LONG_POLL = 50    # seconds; Telegram's own limit is about this
# The tags Telegram's HTML parse mode knows (https://core.telegram.org/bots/api#html-style).
HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
             "code", "pre", "blockquote", "tg-emoji"}
HTML_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>")
DESCRIPTIONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden: bot was blocked by the user",
                404: "Not Found", 409: "Conflict", 500: "Internal Server Error", 502: "Bad Gateway",
                503: "Service Unavailable"}


def bot_id_of(token):
    """A bot's id is the numeric part of its token, as on Telegram; other tokens get a stable one."""
    head = token.split(":", 1)[0]
    return int(head) if head.isdigit() else 1000000 + zlib.crc32(token.encode()) % 1000000


class Bot:
    def __init__(self, bot_id):
        self.bot_id = bot_id
        self.updates = []           # not yet confirmed, in update_id order
        self.next_update_id = 1
        self.poll_generation = 0    # a newer getUpdates ends an older one (409)


class State:
    def __init__(self, tokens=None, log_path=None):
        if isinstance(tokens, str):
            tokens = [tokens]
        self.tokens = {t: bot_id_of(t) for t in (tokens or [])}  # empty: any token
        self.log_path = log_path
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # an update arrived or a poll began
        self.bots = {}
        self.messages = []
        self.next_id = 1
        self.failures = []          # queued injected failures: [{"status", "retry_after"}]
        self.send_calls = 0
        self.send_failed = 0
        self.get_updates_calls = 0
        for bot_id in self.tokens.values():
            self.bots[bot_id] = Bot(bot_id)
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

    def bot_for_token(self, token):
        """The bot a token names, or None when --token/--token-env were given and it is not one."""
        if self.tokens:
            bot_id = self.tokens.get(token)
            if bot_id is None:
                return None
        else:
            bot_id = bot_id_of(token)
        with self.lock:
            return self.bots.setdefault(bot_id, Bot(bot_id))

    def bot_by_id(self, bot_id):
        with self.lock:
            if bot_id is None:
                return next(iter(self.bots.values())) if len(self.bots) == 1 else None
            if bot_id not in self.bots and not self.tokens:
                self.bots[bot_id] = Bot(bot_id)
            return self.bots.get(bot_id)

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

    def inject(self, bot, message):
        with self.lock:
            message["message_id"] = self.next_id
            self.next_id += 1
            update = {"update_id": bot.next_update_id, "message": message}
            bot.next_update_id += 1
            bot.updates.append(update)
            self.changed.notify_all()
            return update

    def poll(self, bot, offset, timeout, limit):
        """getUpdates: (updates, None), or (None, 409 description) when a newer poll took over."""
        deadline = time.monotonic() + timeout
        with self.lock:
            self.get_updates_calls += 1
            bot.poll_generation += 1
            mine = bot.poll_generation
            self.changed.notify_all()
            if offset > 0:
                bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
            elif offset < 0:
                bot.updates = bot.updates[offset:]
            while True:
                if bot.poll_generation != mine:
                    return None, ("Conflict: terminated by other getUpdates request; make sure that "
                                  "only one bot instance is running")
                if bot.updates:
                    return list(bot.updates[:limit]), None
                left = deadline - time.monotonic()
                if left <= 0:
                    return [], None
                self.changed.wait(left)

    def clear(self):
        with self.lock:
            n = len(self.messages)
            self.messages = []
            if self.log_path:
                open(self.log_path, "w").close()
            return n


def html_problem(text):
    """Why Telegram would refuse `text` in HTML parse mode, or None (tags only, like a minimal
    version of Telegram's parser: unknown tags and tags left open or closed out of order)."""
    stack = []
    pos = 0
    while True:
        lt = text.find("<", pos)
        if lt < 0:
            break
        m = HTML_TAG.match(text, lt)
        if not m:
            return f"Unexpected end of name token at byte offset {len(text[:lt].encode())}"
        closing, name = m.group(1) == "/", m.group(2).lower()
        offset = len(text[:lt].encode())
        if name not in HTML_TAGS:
            return f'Unsupported start tag "{name}" at byte offset {offset}'
        if closing:
            if not stack or stack[-1] != name:
                return f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1]}>", found "</{name}>"' \
                    if stack else f'Unexpected end tag at byte offset {offset}'
            stack.pop()
        else:
            stack.append(name)
        pos = m.end()
    if stack:
        return f'Can\'t find end tag corresponding to start tag "{stack[-1]}"'
    return None


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
        bot = self.state.bot_for_token(token)
        if bot is None:
            return self.error(401)
        try:
            params = self.params(url.query, body)
        except (ValueError, UnicodeDecodeError):
            return self.error(400, "Bad Request: can't parse JSON object")
        if method.lower() == "getme":
            return self.get_me(bot)
        if method.lower() == "sendmessage":
            return self.send_message(bot, params)
        if method.lower() == "getupdates":
            return self.get_updates(bot, params)
        return self.error(404)

    # -- Bot API ---------------------------------------------------------------------
    def get_me(self, bot):
        return self.send_json(200, {"ok": True, "result": {
            "id": bot.bot_id, "is_bot": True, "first_name": "keel fake bot",
            "username": "keel_fake_bot", "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False}})

    def get_updates(self, bot, p):
        try:
            offset = int(p.get("offset") or 0)
            timeout = min(max(float(p.get("timeout") or 0), 0.0), MAX_LONG_POLL)
            limit = min(max(int(p.get("limit") or 100), 1), 100)
        except (TypeError, ValueError):
            return self.error(400, "Bad Request: wrong parameter value")
        updates, conflict = self.state.poll(bot, offset, timeout, limit)
        if conflict:
            return self.error(409, conflict)
        return self.send_json(200, {"ok": True, "result": updates})

    def send_message(self, bot, p):
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
        extra = {"bot_id": bot.bot_id}
        if p.get("parse_mode") not in (None, ""):
            mode = str(p["parse_mode"])
            if mode.lower() not in ("html", "markdown", "markdownv2"):
                return self.error(400, "Bad Request: unsupported parse_mode")
            problem = html_problem(text) if mode.lower() == "html" else None
            if problem:
                return self.error(400, f"Bad Request: can't parse entities: {problem}")
            extra["parse_mode"] = mode
        if p.get("message_thread_id") not in (None, ""):
            try:
                extra["message_thread_id"] = int(p["message_thread_id"])
            except (TypeError, ValueError):
                return self.error(400, "Bad Request: message thread not found")
        if p.get("disable_notification") is not None:
            extra["disable_notification"] = truthy(p["disable_notification"])
        m = st.accept(chat_id, text, extra)
        result = {"message_id": m["message_id"], "date": m["date"],
                  "chat": {"id": chat_id, "type": "private"}, "text": text}
        if "message_thread_id" in extra:
            result["message_thread_id"] = extra["message_thread_id"]
        return self.send_json(200, {"ok": True, "result": result})

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
            for key in ("bot_id", "message_thread_id"):
                if key in q:
                    want = chat_id_value(q[key][-1])
                    msgs = [m for m in msgs if m.get(key) == want]
            return self.send_json(200, msgs)
        if path == "/_fake/updates" and self.command == "POST":
            return self.inject_update(body)
        if path == "/_fake/updates" and self.command == "GET":
            q = urllib.parse.parse_qs(query)
            with st.lock:
                bots = [b for b in st.bots.values()
                        if "bot_id" not in q or str(b.bot_id) == q["bot_id"][-1]]
                pending = [dict(u, bot_id=b.bot_id) for b in bots for u in b.updates]
            return self.send_json(200, pending)
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
                                            "messages": len(st.messages),
                                            "get_updates_calls": st.get_updates_calls})
        return self.send_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})


    def inject_update(self, body):
        st = self.state
        bad = {"ok": False, "description": 'expected {"token" or "bot_id", "chat_id", "text", '
               '"from": {...}, "chat_type", "message_thread_id"}'}
        try:
            spec = json.loads(body.decode("utf-8") or "{}")
            if not isinstance(spec, dict):
                raise ValueError
            chat_id = int(spec["chat_id"])
            text = str(spec.get("text", ""))
            chat_type = str(spec.get("chat_type") or ("private" if chat_id > 0 else "supergroup"))
            sender = spec.get("from") or {}
            if not isinstance(sender, dict):
                raise ValueError
            thread = spec.get("message_thread_id")
            thread = None if thread is None else int(thread)
            if "token" in spec:
                bot = st.bot_for_token(str(spec["token"]))
            else:
                bot = st.bot_by_id(None if spec.get("bot_id") is None else int(spec["bot_id"]))
        except (ValueError, TypeError, KeyError, UnicodeDecodeError):
            return self.send_json(400, bad)
        if bot is None:
            return self.send_json(404, {"ok": False, "description": "no such bot (token or bot_id)"})
        user = {"id": chat_id if chat_type == "private" else 1, "is_bot": False, "first_name": "Test"}
        user.update(sender)
        chat = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat.update({k: user[k] for k in ("first_name", "username") if k in user})
        else:
            chat["title"] = "keel test chat"
            if chat_type == "supergroup" and thread is not None:
                chat["is_forum"] = True
        message = {"date": int(time.time()), "chat": chat, "from": user, "text": text}
        if thread is not None:
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
        update = st.inject(bot, message)
        return self.send_json(200, {"ok": True, "bot_id": bot.bot_id, "result": update})


def serve(host, port, token=None, log_path=None):
    """Start in a background thread; returns (server, url). For use from Python tests too.
    `token`: one token, a list of tokens (several bots), or None (any token)."""
    handler = type("BoundHandler", (Handler,), {"state": State(token, log_path)})
    srv = ThreadingHTTPServer((host, port), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://{host}:{srv.server_address[1]}"


def main(argv=None):
    p = argparse.ArgumentParser(description="Fake Telegram Bot API")
    p.add_argument("--port", type=int, required=True, help="0: a free port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--token", action="append", default=[],
                   help="accept this bot token (repeatable: several bots; default: any token)")
    p.add_argument("--token-env", metavar="VAR", action="append", default=[],
                   help="accept the bot token in environment variable VAR (repeatable)")
    p.add_argument("--log", help="append accepted messages to this JSON-lines file (read back on start)")
    a = p.parse_args(argv)
    tokens = list(a.token)
    for var in a.token_env:
        if not os.environ.get(var):
            p.error(f"--token-env: {var} is not set")
        tokens.append(os.environ[var])
    ids = [bot_id_of(t) for t in dict.fromkeys(tokens)]
    if len(set(ids)) != len(ids):
        p.error("two tokens name the same bot id (the part before ':')")
    if a.log:
        os.makedirs(os.path.dirname(os.path.abspath(a.log)), exist_ok=True)
    srv, url = serve(a.host, a.port, tokens or None, a.log)
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
