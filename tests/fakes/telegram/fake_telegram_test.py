#!/usr/bin/python3
"""Tests of the fake Telegram Bot API. Run: /usr/bin/python3 tests/fakes/telegram/fake_telegram_test.py
Starts fake_telegram.py as a process on a free port (--port 0) and checks each behaviour over HTTP."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_telegram.py")
TOKEN = "123456:test-token_XYZ"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def start(*args, env=None):
    p = subprocess.Popen([sys.executable, FAKE, "--port", "0", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=env)
    line = p.stdout.readline().strip()
    if not line.startswith("listening on http://127.0.0.1:"):
        p.kill()
        raise AssertionError(f"unexpected first line {line!r}")
    return p, line.split("listening on ", 1)[1]


def stop(p):
    p.terminate()
    try:
        return p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()
    finally:
        p.stdout.close()


class FakeTelegramTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="fake-telegram-test-")
        cls.log = os.path.join(cls.dir, "messages.jsonl")
        cls.proc, cls.base = start("--token", TOKEN, "--log", cls.log)

    @classmethod
    def tearDownClass(cls):
        stop(cls.proc)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.call("DELETE", "/_fake/messages")

    def call(self, method, path, body=None, ctype=None, base=None):
        data, headers = None, {}
        if isinstance(body, (dict, list)):
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        elif isinstance(body, str):
            data, headers["Content-Type"] = body.encode(), ctype or "application/x-www-form-urlencoded"
        req = urllib.request.Request((base or self.base) + path, data=data, headers=headers, method=method)
        try:
            with OPENER.open(req, timeout=5) as r:
                return r.status, dict(r.headers), json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read())

    def send(self, body, token=TOKEN):
        return self.call("POST", f"/bot{token}/sendMessage", body)

    def test_send_message_json(self):
        t0 = int(time.time())
        code, hdr, r = self.send({"chat_id": 42, "text": "hello *there*", "parse_mode": "MarkdownV2",
                                  "disable_notification": True})
        self.assertEqual(code, 200)
        self.assertEqual(hdr["Content-Type"], "application/json")
        self.assertTrue(r["ok"])
        res = r["result"]
        self.assertIsInstance(res["message_id"], int)
        self.assertGreaterEqual(res["date"], t0)
        self.assertEqual(res["chat"], {"id": 42, "type": "private"})
        self.assertEqual(res["text"], "hello *there*")
        code, _, r2 = self.send({"chat_id": "42", "text": "second"})
        self.assertEqual(r2["result"]["message_id"], res["message_id"] + 1)
        self.assertEqual(r2["result"]["chat"]["id"], 42)   # numeric strings are ids

    def test_send_message_form_and_query(self):
        code, _, r = self.send("chat_id=-1001&text=" + urllib.parse.quote("form body ü"))
        self.assertEqual((code, r["result"]["chat"]["id"], r["result"]["text"]), (200, -1001, "form body ü"))
        code, _, r = self.call("GET", f"/bot{TOKEN}/sendMessage?chat_id=7&text=via%20query")
        self.assertEqual((code, r["result"]["text"]), (200, "via query"))
        code, _, r = self.send({"chat_id": "@keel_channel", "text": "to a channel"})
        self.assertEqual(r["result"]["chat"]["id"], "@keel_channel")

    def test_missing_fields(self):
        code, _, r = self.send({"text": "x"})
        self.assertEqual((code, r), (400, {"ok": False, "error_code": 400,
                                           "description": "Bad Request: chat_id is empty"}))
        code, _, r = self.send({"chat_id": 1})
        self.assertEqual((code, r), (400, {"ok": False, "error_code": 400,
                                           "description": "Bad Request: message text is empty"}))
        code, _, r = self.send({"chat_id": 1, "text": ""})
        self.assertEqual((code, r["description"]), (400, "Bad Request: message text is empty"))
        code, _, r = self.call("POST", f"/bot{TOKEN}/sendMessage", "{not json", ctype="application/json")
        self.assertEqual((code, r["ok"]), (400, False))
        self.assertEqual(self.call("GET", "/_fake/messages")[2], [])

    def test_token(self):
        code, _, r = self.send({"chat_id": 1, "text": "x"}, token="999:wrong")
        self.assertEqual((code, r), (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}))
        code, _, r = self.call("GET", "/bot999:wrong/getMe")
        self.assertEqual(code, 401)
        self.assertEqual(self.call("GET", "/_fake/messages")[2], [])

    def test_get_me(self):
        for method in ("GET", "POST"):
            code, _, r = self.call(method, f"/bot{TOKEN}/getMe")
            self.assertEqual(code, 200)
            self.assertTrue(r["ok"])
            self.assertEqual((r["result"]["id"], r["result"]["is_bot"]), (123456, True))
            self.assertTrue(r["result"]["username"])

    def test_unknown_method_and_path(self):
        nf = {"ok": False, "error_code": 404, "description": "Not Found"}
        self.assertEqual(self.call("POST", f"/bot{TOKEN}/sendPhoto", {"chat_id": 1})[::2], (404, nf))
        self.assertEqual(self.call("GET", "/nope")[::2], (404, nf))
        self.assertEqual(self.call("GET", "/bot/sendMessage")[::2], (404, nf))

    def test_messages_list_filter_and_delete(self):
        for chat, text in ((1, "a"), (2, "b"), (1, "c")):
            self.assertEqual(self.send({"chat_id": chat, "text": text})[0], 200)
        code, _, msgs = self.call("GET", "/_fake/messages")
        self.assertEqual(code, 200)
        self.assertEqual([(m["chat_id"], m["text"]) for m in msgs], [(1, "a"), (2, "b"), (1, "c")])
        self.assertEqual([m["message_id"] for m in msgs], sorted(m["message_id"] for m in msgs))
        for m in msgs:
            self.assertEqual(set(m) >= {"chat_id", "text", "message_id", "date"}, True)
        self.assertEqual([m["text"] for m in self.call("GET", "/_fake/messages?chat_id=1")[2]], ["a", "c"])
        self.assertEqual(self.call("GET", "/_fake/messages?chat_id=3")[2], [])
        code, _, r = self.call("DELETE", "/_fake/messages")
        self.assertEqual((code, r["deleted"]), (200, 3))
        self.assertEqual(self.call("GET", "/_fake/messages")[2], [])

    def test_injected_failures(self):
        code, _, r = self.call("POST", "/_fake/fail", {"count": 2, "status": 429, "retry_after": 3})
        self.assertEqual((code, r["ok"]), (200, True))
        for _ in range(2):
            code, hdr, r = self.send({"chat_id": 5, "text": "x"})
            self.assertEqual(code, 429)
            self.assertEqual(r, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3",
                                 "parameters": {"retry_after": 3}})
            self.assertEqual(hdr.get("Retry-After"), "3")
        self.call("POST", "/_fake/fail", {"count": 1, "status": 500})
        code, _, r = self.send({"chat_id": 5, "text": "x"})
        self.assertEqual((code, r["ok"], r["error_code"]), (500, False, 500))
        code, _, r = self.send({"chat_id": 5, "text": "finally"})
        self.assertEqual(code, 200)
        self.assertEqual([m["text"] for m in self.call("GET", "/_fake/messages")[2]], ["finally"])
        st = self.call("GET", "/_fake/stats")[2]
        self.assertEqual((st["failed"] >= 3, st["pending_failures"]), (True, 0))
        self.assertEqual(self.call("POST", "/_fake/fail", {"count": 1, "status": 200})[0], 400)
        # getMe is not affected by injected failures
        self.call("POST", "/_fake/fail", {"count": 1, "status": 500})
        self.assertEqual(self.call("GET", f"/bot{TOKEN}/getMe")[0], 200)
        self.assertEqual(self.send({"chat_id": 5, "text": "x"})[0], 500)

    def test_healthz(self):
        self.assertEqual(self.call("GET", "/healthz")[::2], (200, {"ok": True}))

    def test_log_persists_across_restart(self):
        self.send({"chat_id": 9, "text": "kept"})
        with open(self.log) as f:
            lines = [json.loads(x) for x in f if x.strip()]
        self.assertEqual([(m["chat_id"], m["text"]) for m in lines], [(9, "kept")])
        p, base = start("--log", self.log)   # no --token: any token is accepted
        try:
            msgs = self.call("GET", "/_fake/messages", base=base)[2]
            self.assertEqual([m["text"] for m in msgs], ["kept"])
            code, _, r = self.call("POST", "/botanything/sendMessage", {"chat_id": 9, "text": "next"}, base=base)
            self.assertEqual(code, 200)
            self.assertEqual(r["result"]["message_id"], msgs[0]["message_id"] + 1)
        finally:
            self.assertEqual(stop(p), 0)

    def test_token_from_the_environment(self):
        p, base = start("--token-env", "FAKE_TG_TOKEN", env=dict(os.environ, FAKE_TG_TOKEN="77:from-env"))
        try:
            self.assertEqual(self.call("GET", "/bot77:from-env/getMe", base=base)[0], 200)
            self.assertEqual(self.call("GET", f"/bot{TOKEN}/getMe", base=base)[0], 401)
        finally:
            self.assertEqual(stop(p), 0)
        r = subprocess.run([sys.executable, FAKE, "--port", "0", "--token-env", "FAKE_TG_UNSET"],
                           env={k: v for k, v in os.environ.items() if k != "FAKE_TG_UNSET"},
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("FAKE_TG_UNSET is not set", r.stderr)


OTHER = "777:other-bot"


class BotsAndUpdatesTest(unittest.TestCase):
    """Several bots, getUpdates long polling, injected user messages, threads and HTML."""

    @classmethod
    def setUpClass(cls):
        cls.proc, cls.base = start("--token", TOKEN, "--token-env", "FAKE_TG_OTHER",
                                   env=dict(os.environ, FAKE_TG_OTHER=OTHER))

    @classmethod
    def tearDownClass(cls):
        stop(cls.proc)

    call = FakeTelegramTest.call

    def setUp(self):
        self.call("DELETE", "/_fake/messages")
        for token in (TOKEN, OTHER):   # confirm whatever an earlier test left
            _, _, r = self.call("POST", f"/bot{token}/getUpdates", {"offset": -1})
            if r["result"]:
                self.call("POST", f"/bot{token}/getUpdates", {"offset": r["result"][-1]["update_id"] + 1})

    def inject(self, **spec):
        code, _, r = self.call("POST", "/_fake/updates", spec)
        self.assertEqual(code, 200, r)
        return r["result"]

    def poll(self, token, wait=5, **params):
        """getUpdates with `params`; `wait`: how long this client waits for the answer."""
        req = urllib.request.Request(self.base + f"/bot{token}/getUpdates",
                                     data=json.dumps(params).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            with OPENER.open(req, timeout=wait) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_each_bot_has_its_own_queue_and_id(self):
        self.assertEqual(self.call("GET", f"/bot{OTHER}/getMe")[2]["result"]["id"], 777)
        u = self.inject(token=TOKEN, chat_id=42, text="/start abc", **{"from": {"id": 42, "username": "ann"}})
        self.assertEqual(u["message"]["chat"], {"id": 42, "type": "private", "first_name": "Test",
                                                "username": "ann"})
        self.assertEqual(u["message"]["from"]["username"], "ann")
        self.inject(bot_id=777, chat_id=-100, chat_type="supergroup", text="/status", message_thread_id=3)
        code, r = self.poll(TOKEN)
        self.assertEqual(code, 200)
        self.assertEqual([x["message"]["text"] for x in r["result"]], ["/start abc"])
        code, r = self.poll(OTHER)
        m = r["result"][0]["message"]
        self.assertEqual((m["chat"]["type"], m["message_thread_id"], m["text"]), ("supergroup", 3, "/status"))
        self.assertEqual(self.call("POST", "/_fake/updates", {"bot_id": 5, "chat_id": 1, "text": "x"})[0], 404)
        self.assertEqual(self.call("POST", "/_fake/updates", {"token": TOKEN, "text": "x"})[0], 400)
        # two bots configured: which one must be said
        self.assertEqual(self.call("POST", "/_fake/updates", {"chat_id": 1, "text": "x"})[0], 404)

    def test_offset_confirms_and_limit_caps(self):
        ids = [self.inject(token=TOKEN, chat_id=7, text=f"m{i}")["update_id"] for i in range(3)]
        self.assertEqual(ids, sorted(ids))
        code, r = self.poll(TOKEN, limit=2)
        self.assertEqual([x["update_id"] for x in r["result"]], ids[:2])
        code, r = self.poll(TOKEN)   # nothing confirmed yet: all again
        self.assertEqual([x["update_id"] for x in r["result"]], ids)
        code, r = self.poll(TOKEN, offset=ids[1] + 1)
        self.assertEqual([x["update_id"] for x in r["result"]], ids[2:])
        self.assertEqual([u["update_id"] for u in self.call("GET", "/_fake/updates?bot_id=123456")[2]], ids[2:])
        code, r = self.poll(TOKEN, offset=ids[2] + 1, timeout=0)
        self.assertEqual((code, r["result"]), (200, []))
        self.assertEqual(self.call("GET", "/_fake/updates?bot_id=123456")[2], [])

    def test_long_poll_answers_when_an_update_arrives(self):
        t0 = time.monotonic()
        code, r = self.poll(TOKEN, timeout=1)
        self.assertEqual((code, r["result"]), (200, []))
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)   # it did wait
        got = {}
        t = threading.Thread(target=lambda: got.update(r=self.poll(TOKEN, wait=30, timeout=20)))
        before = self.stats()["get_updates_calls"]
        t0 = time.monotonic()
        t.start()
        self.wait_for_poll(before)   # counted under the lock it then waits on: it is asleep now
        self.inject(token=TOKEN, chat_id=9, text="wake up")
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual([x["message"]["text"] for x in got["r"][1]["result"]], ["wake up"])

    def test_a_second_poller_ends_the_first_with_409(self):
        got = {}
        t = threading.Thread(target=lambda: got.update(r=self.poll(TOKEN, wait=30, timeout=20)))
        before = self.stats()["get_updates_calls"]
        t.start()
        self.wait_for_poll(before)
        code, r = self.poll(TOKEN, timeout=0)
        self.assertEqual(code, 200)
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertEqual(got["r"][0], 409)
        self.assertIn("terminated by other getUpdates request", got["r"][1]["description"])

    def stats(self):
        return self.call("GET", "/_fake/stats")[2]

    def wait_for_poll(self, before):
        deadline = time.monotonic() + 5
        while self.stats()["get_updates_calls"] <= before:
            self.assertLess(time.monotonic(), deadline, "the poll never arrived")
            time.sleep(0.02)

    def test_threads_html_and_filters(self):
        ok = {"chat_id": -100, "text": '<b>down</b> <a href="http://x">x</a> &lt;', "parse_mode": "HTML",
              "message_thread_id": 5}
        code, _, r = self.call("POST", f"/bot{OTHER}/sendMessage", ok)
        self.assertEqual(code, 200, r)
        self.assertEqual(r["result"]["message_thread_id"], 5)
        self.call("POST", f"/bot{OTHER}/sendMessage", {"chat_id": -100, "text": "general"})
        self.call("POST", f"/bot{TOKEN}/sendMessage", {"chat_id": -100, "text": "other bot", "message_thread_id": 5})
        msgs = self.call("GET", "/_fake/messages?bot_id=777&message_thread_id=5")[2]
        self.assertEqual([(m["text"], m["parse_mode"], m["bot_id"]) for m in msgs], [(ok["text"], "HTML", 777)])
        self.assertEqual(len(self.call("GET", "/_fake/messages?chat_id=-100&bot_id=777")[2]), 2)
        self.assertEqual(len(self.call("GET", "/_fake/messages?message_thread_id=5")[2]), 2)
        for bad in ("<b>open", "<b><i>x</b></i>", "<blink>x</blink>", "x</b>", "a < b"):
            code, _, r = self.call("POST", f"/bot{OTHER}/sendMessage",
                                   {"chat_id": 1, "text": bad, "parse_mode": "HTML"})
            self.assertEqual(code, 400, bad)
            self.assertTrue(r["description"].startswith("Bad Request: can't parse entities"), r)
        # other parse modes are not checked; an unknown one is refused
        self.assertEqual(self.call("POST", f"/bot{OTHER}/sendMessage",
                                   {"chat_id": 1, "text": "<b>", "parse_mode": "MarkdownV2"})[0], 200)
        self.assertEqual(self.call("POST", f"/bot{OTHER}/sendMessage",
                                   {"chat_id": 1, "text": "x", "parse_mode": "BBCode"})[0], 400)
        self.assertEqual(len(self.call("GET", "/_fake/messages?bot_id=777")[2]), 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
