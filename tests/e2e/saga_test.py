#!/usr/bin/python3
"""The event backbone end to end: the checkout saga through nginx, fiscal catching up
after a stop, chaos (SIGKILL of service instances and a NATS restart) under load, dead
letters and their retry, a consumer replay, the pending deadline racing a capture, and
wallet top-ups through the (fake) payment provider (see tests/e2e/README.md).

Run from the repo root:  /usr/bin/python3 tests/e2e/saga_test.py [-v] [Class.test_name ...]
Env: KEEL_BUILD_DIR (default build/release), E2E_KEEP=1 keeps the stack's var dir,
     SAGA_CHAOS_ORDERS (2000), SAGA_CATCHUP_ORDERS (1000).
"""
import concurrent.futures
import json
import os
import random
import secrets
import subprocess
import sys
import threading
import time
import unittest
import uuid
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack_fixture import REPO, Stack  # noqa: E402

STACK = None
BUILD = os.environ.get("KEEL_BUILD_DIR") or os.path.join(REPO, "build", "release")
KEEL_BUS = os.path.join(BUILD, "tools", "bus", "keel-bus")
CHAOS_ORDERS = int(os.environ.get("SAGA_CHAOS_ORDERS", "2000"))
CATCHUP_ORDERS = int(os.environ.get("SAGA_CATCHUP_ORDERS", "1000"))
FINAL = ("CONFIRMED", "CANCELLED")
PLACED = []            # every order id this suite placed (with its user's token), for global checks
PLACED_LOCK = threading.Lock()
_login_lock = threading.Lock()
PROVIDER_SECRET = secrets.token_hex(32)   # payments and the fake provider share it
PENDING_TIMEOUT_S = 300   # longer than any order takes under chaos; F_Deadline backdates its order


# -- helpers ----------------------------------------------------------------------------

def wait_for(what, pred, timeout=30.0, every=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def login(email, password):
    with _login_lock:          # nginx allows 10 logins/s per address
        time.sleep(0.11)
        r = STACK.login(email, password)
    assert r.status == 200, r
    return r.json()["access_token"]


def new_user(chat_id=None, top_up=None):
    email = f"saga-{uuid.uuid4().hex[:10]}@example.com"
    r = STACK.register(email, "correct-horse-battery")
    assert r.status == 201, r
    user_id = r.json()["user_id"]
    token = login(email, "correct-horse-battery")
    # account builds the profile from auth.user_registered.v1, asynchronously
    wait_for("the profile", lambda: STACK.request("GET", "/api/account/me", token=token).status == 200, 15)
    if chat_id is not None:
        link_telegram(token, chat_id)
    if top_up:
        top_up_wallet(token, top_up)
    return {"id": user_id, "email": email, "token": token, "chat_id": chat_id}


LINKED_REPLY = "Linked: keel will send your order notifications to this chat."


def say_to_bot(chat_id, text):
    """A Telegram user writes to the user bot (notifications' TELEGRAM_BOT_TOKEN) in a private chat."""
    port = STACK.replica("telegram-fake", 1)["port"]
    r = STACK.request("POST", "/_fake/updates", port=port, json_body={
        "token": secrets_env()["TELEGRAM_BOT_TOKEN"], "chat_id": chat_id, "text": text,
        "from": {"id": chat_id, "username": f"user{chat_id}"}})
    assert r.status == 200, r


def bot_replies(chat_id):
    return [m["text"] for m in telegram(f"/_fake/messages?chat_id={chat_id}")]


def link_telegram(token, chat_id):
    """Links chat_id the only way a user can: a one-time link (POST /api/account/me/telegram-link),
    opened in Telegram, which sends "/start <token>" to the bot; notifications' poller hands it to
    account. Returns the link."""
    r = STACK.request("POST", "/api/account/me/telegram-link", token=token)
    assert r.status == 201, r
    link = r.json()
    assert link["deep_link"].endswith("?start=" + link["token"]), link
    say_to_bot(chat_id, "/start " + link["token"])
    wait_for(f"chat {chat_id} to be linked", lambda: STACK.request(
        "GET", "/api/account/me", token=token).json()["telegram_chat_id"] == chat_id, 20)
    wait_for("the bot's answer", lambda: LINKED_REPLY in bot_replies(chat_id), 15)
    return link


def provider_url():
    return f"http://127.0.0.1:{STACK.replica('payment-provider-fake', 1)['port']}"


def pay_at_provider(top_up, outcome="succeeded"):
    """The user pays the top-up at the (fake) provider, which calls payments back, signed."""
    r = STACK.request("POST", "/v1/payments", port=STACK.replica("payment-provider-fake", 1)["port"],
                      json_body={"top_up_id": top_up["id"], "amount": top_up["amount"],
                                 "currency": top_up["currency"], "outcome": outcome}, timeout=30)
    assert r.status == 201, r
    return r.json()


def top_up_wallet(token, amount):
    """Tops the wallet up the only way users can: a pending top-up, paid at the provider."""
    r = STACK.request("POST", "/api/payments/top-ups", token=token, json_body={"amount": amount})
    assert r.status == 201, r
    top_up = r.json()
    assert top_up["status"] == "pending", top_up
    paid = pay_at_provider(top_up)
    assert paid["callback"]["status"] == 200 and paid["callback"]["body"]["credited"], paid
    return top_up, paid


def admin_token():
    return login(STACK.admin_email, STACK.admin_password)


def new_product(stock, price=150, token=None):
    sku = "SAGA-" + uuid.uuid4().hex[:10]
    r = STACK.request("POST", "/api/catalog/products", token=token or admin_token(),
                      json_body={"sku": sku, "name": f"saga {sku}", "price_minor": price, "currency": "USD",
                                 "stock": stock})
    assert r.status == 201, r
    return r.json()["id"]


def place(user, items, key=None, attempts=30, headers=None):
    """POST /api/orders, retried with the same Idempotency-Key on 5xx or a broken connection
    (what a client does when an instance dies under it). Returns the order."""
    key = key or uuid.uuid4().hex
    last = None
    for _ in range(attempts):
        try:
            r = STACK.request("POST", "/api/orders", token=user["token"],
                              headers={"Idempotency-Key": key, **(headers or {})},
                              json_body={"items": items}, timeout=10)
        except OSError as e:
            last = e
            time.sleep(0.2)
            continue
        if r.status in (200, 201):
            order = r.json()
            with PLACED_LOCK:
                PLACED.append((order["id"], user["token"]))
            return order
        last = r
        if r.status < 500:
            raise AssertionError(f"place order: {r!r}")
        time.sleep(0.2)
    raise AssertionError(f"place order kept failing: {last!r}")


def get_order(token, order_id):
    for _ in range(50):
        try:
            r = STACK.request("GET", f"/api/orders/{order_id}", token=token, timeout=10)
            if r.status == 200:
                return r.json()
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"cannot read order {order_id}")


def wait_final(pairs, timeout):
    """Waits until every (order id, token) is CONFIRMED or CANCELLED; returns {id: order}."""
    deadline = time.monotonic() + timeout
    done = {}
    pending = list(pairs)
    while pending and time.monotonic() < deadline:
        still = []
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            for (oid, token), order in zip(pending, pool.map(lambda p: get_order(p[1], p[0]), pending)):
                if order["status"] in FINAL:
                    done[oid] = order
                else:
                    still.append((oid, token))
        pending = still
        if pending:
            time.sleep(0.5)
    if pending:
        raise AssertionError(f"{len(pending)} orders not final after {timeout}s, e.g. {pending[:3]}")
    return done


def secrets_env():
    out = {}
    with open(os.path.join(STACK.var_dir, "secrets.env")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.strip().split("=", 1)
                out[k] = v.strip("'\"")
    return out


def internal(service, path):
    """GET on a service's /internal API through the internal gateway (service token)."""
    token = secrets_env()["KEEL_SERVICE_TOKEN"]
    r = STACK.request("GET", f"/{service}{path}", token=token, port=STACK.internal_port, timeout=10)
    assert r.status == 200, r
    return r.json()


def keel_bus(*args, check=True, timeout=60):
    env = dict(os.environ, NATS_URL=STACK.nats_url)
    operator_password = secrets_env().get("NATS_OPERATOR_PASSWORD")   # NATS user keel-bus
    if operator_password:
        env["NATS_OPERATOR_PASSWORD"] = operator_password
    p = subprocess.run([KEEL_BUS, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"keel-bus {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def telegram(path):
    port = STACK.replica("telegram-fake", 1)["port"]
    r = STACK.request("GET", path, port=port)
    assert r.status == 200, r
    return r.json()


def psql(db, sql):
    # each service's role has its own password, generated into secrets.env by keel-stack
    password = secrets_env().get(f"{db.upper()}_DB_PASSWORD", db)
    dsn = f"host=127.0.0.1 port={STACK.pg_port} dbname={db} user={db} password={password}"
    return subprocess.run(["/usr/bin/psql", dsn, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          capture_output=True, text=True, check=True).stdout.strip()


def trace_lines(trace_id):
    """Every JSON log line of `trace_id`: the services' (var/log/<svc>-<N>.log) and the gateway's
    access log. keel-stack's own log is left out: it repeats the others."""
    paths = [STACK.access_log_path()]
    log_dir = os.path.join(STACK.var_dir, "log")
    paths += [os.path.join(log_dir, n) for n in sorted(os.listdir(log_dir))
              if n.endswith(".log") and not n.startswith("keel-stack")]
    out = []
    for path in paths:
        with open(path, errors="replace") as f:
            for line in f:
                if trace_id not in line or not line.startswith("{"):
                    continue
                obj = json.loads(line)
                if obj.get("trace_id") == trace_id:
                    out.append(obj)
    return out


def product_stock(pid):
    r = STACK.request("GET", f"/api/catalog/products/{pid}")
    assert r.status == 200, r
    return r.json()["stock"]


# -- tests ------------------------------------------------------------------------------

class A_Checkout(unittest.TestCase):
    def test_full_checkout_through_the_gateway(self):
        chat = random.randint(10**8, 10**9)
        user = new_user(chat_id=chat, top_up=100_000)
        p1, p2 = new_product(50, price=1200), new_product(50, price=2500)
        items = [{"product_id": p1, "quantity": 2}, {"product_id": p2, "quantity": 1}]
        key = uuid.uuid4().hex
        t0 = time.monotonic()
        # the client starts the trace: the gateway and every hop after it continue it
        trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
        order = place(user, items, key=key, headers={"traceparent": f"00-{trace_id}-{client_span}-01"})
        self.assertEqual(order["status"], "PENDING")
        self.assertEqual(order["total"], 2 * 1200 + 2500)
        # the same key and body: the same order; another body: 409
        again = STACK.request("POST", "/api/orders", token=user["token"], headers={"Idempotency-Key": key},
                              json_body={"items": list(reversed(items))})
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json()["id"], order["id"])
        self.assertEqual(again.header("Idempotent-Replayed"), "true")
        other = STACK.request("POST", "/api/orders", token=user["token"], headers={"Idempotency-Key": key},
                              json_body={"items": [{"product_id": p1, "quantity": 1}]})
        self.assertEqual(other.status, 409, other)
        self.assertEqual(other.content_type, "application/problem+json")

        final = wait_for("the order to be confirmed",
                         lambda: (lambda o: o if o["status"] in FINAL else None)(get_order(user["token"], order["id"])),
                         timeout=20)
        self.assertEqual(final["status"], "CONFIRMED", final)
        self.assertIsNotNone(final["payment_id"])
        print(f"\n  checkout confirmed {time.monotonic() - t0:.2f}s after placing", file=sys.stderr)
        wallet = STACK.request("GET", "/api/payments/wallet", token=user["token"]).json()
        self.assertEqual(wallet["balance"], 100_000 - order["total"])
        history = STACK.request("GET", "/api/payments/wallet/transactions", token=user["token"]).json()["items"]
        self.assertIn(order["id"], [t.get("order_id") for t in history])
        self.assertEqual(product_stock(p1), 48)
        self.assertEqual(product_stock(p2), 49)

        receipts = wait_for("the receipt", lambda: STACK.request(
            "GET", f"/api/fiscal/receipts?order_id={order['id']}", token=user["token"]).json()["items"], 15)
        self.assertEqual(len(receipts), 1)
        self.assertEqual(receipts[0]["amount"], order["total"])

        msgs = wait_for("two Telegram messages (confirmed, receipt)", lambda: (
            lambda m: m if len(m) >= 2 else None)([m for m in telegram(f"/_fake/messages?chat_id={chat}")
                                                   if m["text"] != LINKED_REPLY]), 15)
        texts = " | ".join(m["text"] for m in msgs)
        self.assertIn(order["id"], texts)
        self.assertEqual(len(msgs), 2, texts)
        log = wait_for("the delivery log", lambda: (lambda items: items if len(items) >= 2 and all(
            i["status"] == "sent" for i in items) else None)(STACK.request(
                "GET", "/api/notifications/me", token=user["token"]).json()["items"]), 15)
        self.assertEqual(len(log), 2)

        related = wait_for("a recommendation", lambda: STACK.request(
            "GET", f"/api/recommendations/products/{p1}").json()["items"], 15)
        self.assertEqual(related[0]["product_id"], p2)

        # every hop, across services, in time order
        trail = wait_for("the whole trail", lambda: (lambda hops: hops if {
            (h["service"], h["kind"]) for h in hops} >= {
            ("orders", "publish"), ("catalog", "consume"), ("catalog", "publish"), ("payments", "consume"),
            ("payments", "publish"), ("orders", "consume"), ("fiscal", "consume"), ("fiscal", "publish"),
            ("notifications", "consume"), ("recommendations", "consume")} else None)(
            json.loads(keel_bus("trail", order["correlation_id"], "--json").stdout)["hops"]), 15)
        starts = [h["start_us"] for h in trail]
        self.assertEqual(starts, sorted(starts))
        table = keel_bus("trail", order["correlation_id"]).stdout
        for service in ("orders", "catalog", "payments", "fiscal", "notifications", "recommendations"):
            self.assertIn(service, table)

        # one trace (docs/observability.md): its id in the logs of the gateway and of every service
        # on the checkout's path, its span lines one tree rooted at the client's span
        on_path = {"gateway", "orders", "catalog", "payments", "fiscal"}
        lines = wait_for("the checkout's trace in every log", lambda: (lambda ls: ls if on_path <= {
            o.get("service") for o in ls} else None)(trace_lines(trace_id)), 15)
        spans = [o for o in lines if "span" in o]
        ids = {o["span_id"] for o in spans} | {client_span}
        orphans = [o for o in spans if o["parent_span_id"] not in ids]
        self.assertEqual(orphans, [], "span lines whose parent is in no log")
        gateway = [o for o in spans if o["service"] == "gateway" and o["parent_span_id"] == client_span]
        self.assertEqual(len(gateway), 1, gateway)
        self.assertEqual(gateway[0]["correlation_id"], order["correlation_id"])
        placed = [o for o in spans if o["service"] == "orders" and o["span"] == "POST /api/orders"]
        self.assertEqual([o["parent_span_id"] for o in placed], [gateway[0]["span_id"]])
        consumed = {(o["service"], o["span"]) for o in spans if o["span_kind"] == "consumer"}
        self.assertLessEqual({("catalog", "consume orders.order_placed.v1"),
                              ("fiscal", "consume payments.payment_captured.v1")}, consumed)
        for o in lines:
            self.assertEqual(o.get("correlation_id"), order["correlation_id"], o)

        # the native trace view (keel-stack trace): HTTP and event hops in one tree, in time order
        view = json.loads(STACK.cli("trace", trace_id, "--json").stdout)
        tree = view["spans"]
        self.assertEqual((tree[0]["service"], tree[0]["kind"]), ("gateway", "server"), tree[0])
        self.assertLessEqual(on_path, {sp["service"] for sp in tree})
        by_id = {sp["span_id"]: sp for sp in tree}
        for sp in tree[1:]:
            parent = by_id.get(sp["parent_span_id"])
            self.assertIsNotNone(parent, f"{sp['name']} has no parent in the view")
            # nginx stamps whole milliseconds: a child may appear up to 1 ms before its parent
            self.assertGreaterEqual(sp["offset_ms"], parent["offset_ms"] - 1, (sp, parent))
        reserve = [sp for sp in tree if sp["kind"] == "consumer" and sp["service"] == "catalog"
                   and sp["name"] == "consume orders.order_placed.v1"]
        receipt = [sp for sp in tree if sp["kind"] == "consumer" and sp["service"] == "fiscal"]
        self.assertTrue(reserve and receipt, tree)
        # the saga's order: stock is reserved before the payment a receipt is issued for
        self.assertLess(reserve[0]["offset_ms"], receipt[0]["offset_ms"])

    def test_a_declined_payment_cancels_and_releases_the_stock(self):
        user = new_user(top_up=100)
        pid = new_product(5, price=1000)
        order = place(user, [{"product_id": pid, "quantity": 2}])
        final = wait_final([(order["id"], user["token"])], 20)[order["id"]]
        self.assertEqual(final["status"], "CANCELLED")
        self.assertIn("payment", final["reason"])
        wait_for("the stock to come back", lambda: product_stock(pid) == 5, 15)
        self.assertEqual(STACK.request("GET", "/api/payments/wallet", token=user["token"]).json()["balance"], 100)

    def test_not_enough_stock_cancels_without_payment(self):
        user = new_user(top_up=100_000)
        pid = new_product(1, price=10)
        order = place(user, [{"product_id": pid, "quantity": 3}])
        final = wait_final([(order["id"], user["token"])], 20)[order["id"]]
        self.assertEqual(final["status"], "CANCELLED")
        self.assertIn("stock", final["reason"])
        self.assertEqual(product_stock(pid), 1)
        self.assertEqual(STACK.request("GET", "/api/payments/wallet", token=user["token"]).json()["balance"], 100_000)


class A_TelegramLink(unittest.TestCase):
    """Part G of issue 10: a chat is linked only from Telegram's own update, by a one-time link."""

    def test_start_with_a_fresh_link_links_and_a_guessed_or_reused_one_does_not(self):
        user = new_user()
        me = lambda: STACK.request("GET", "/api/account/me", token=user["token"]).json()  # noqa: E731
        # naming a chat directly is refused, with how to link instead
        r = STACK.request("PATCH", "/api/account/me", token=user["token"],
                          json_body={"telegram_chat_id": 12345})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.content_type, "application/problem+json")
        self.assertIn("/api/account/me/telegram-link", r.json()["detail"])
        self.assertIsNone(me()["telegram_chat_id"])

        chat, thief, guesser = (random.randint(10**9, 2 * 10**9) for _ in range(3))
        link = link_telegram(user["token"], chat)
        self.assertEqual(me()["telegram_chat_id"], chat)
        # the same link again, from another chat: refused, and the chat is told so
        say_to_bot(thief, "/start " + link["token"])
        refused = wait_for("the answer to a used link", lambda: bot_replies(thief), 15)
        self.assertIn("invalid or expired", refused[0])
        # a guessed token: the same
        say_to_bot(guesser, "/start " + secrets.token_urlsafe(32))
        refused = wait_for("the answer to a guessed link", lambda: bot_replies(guesser), 15)
        self.assertIn("invalid or expired", refused[0])
        self.assertEqual(me()["telegram_chat_id"], chat)
        self.assertEqual(bot_replies(chat), [LINKED_REPLY])
        # unlinking stays a PATCH
        r = STACK.request("PATCH", "/api/account/me", token=user["token"], json_body={"telegram_chat_id": None})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json()["telegram_chat_id"])


class B_CatchUp(unittest.TestCase):
    def test_fiscal_stopped_then_catches_up_exactly_once(self):
        user = new_user(top_up=10**9)
        pid = new_product(CATCHUP_ORDERS * 2, price=100)
        before = internal("fiscal", "/internal/receipts/stats")
        STACK.cli("stop", "fiscal")
        try:
            with concurrent.futures.ThreadPoolExecutor(12) as pool:
                orders = list(pool.map(lambda _: place(user, [{"product_id": pid, "quantity": 1}]),
                                       range(CATCHUP_ORDERS)))
            final = wait_final([(o["id"], user["token"]) for o in orders], 120)
            self.assertEqual(sum(o["status"] == "CONFIRMED" for o in final.values()), CATCHUP_ORDERS)
            lag = json.loads(keel_bus("lag", "--json").stdout)
            fiscal_lag = [c for c in lag if c["consumer"] == "fiscal-payments_payment_captured_v1"]
            self.assertTrue(fiscal_lag and fiscal_lag[0]["lag"] >= CATCHUP_ORDERS, fiscal_lag)
        finally:
            STACK.cli("start", "fiscal")
        after = wait_for("fiscal to catch up", lambda: (lambda s: s if s["receipts"] - before["receipts"] >=
                                                          CATCHUP_ORDERS else None)(
            internal("fiscal", "/internal/receipts/stats")), 120, every=0.5)
        time.sleep(1)
        after = internal("fiscal", "/internal/receipts/stats")
        self.assertEqual(after["receipts"] - before["receipts"], CATCHUP_ORDERS)
        self.assertEqual(after["receipts"], after["distinct_orders"])


class C_DeadLetters(unittest.TestCase):
    def test_poisoned_event_is_dead_lettered_then_retried_after_the_fix(self):
        user_id = str(uuid.uuid4())
        email = "x" * 300 + "@example.com"   # valid Avro, but account's profiles allow 254 characters
        keel_bus("publish", "auth.user_registered.v1",
                 json.dumps({"user_id": user_id, "email": email, "registered_at": int(time.time() * 1000)}))
        consumer = "account-auth_user_registered_v1"
        dead = wait_for("the dead letter", lambda: [d for d in json.loads(keel_bus("dlq", "list", "--json").stdout)
                                                    if d["consumer"] == consumer], 30, every=0.5)
        self.assertEqual(len(dead), 1, dead)
        self.assertIn("profiles_email_check", dead[0]["error"])
        admin = admin_token()
        self.assertEqual(STACK.request("GET", f"/api/account/users/{user_id}", token=admin).status, 404)
        # the fix an operator would ship as a migration
        psql("account", "ALTER TABLE profiles DROP CONSTRAINT profiles_email_check")
        out = keel_bus("dlq", "retry", "--consumer", consumer).stdout
        self.assertIn("1", out)
        profile = wait_for("the profile after the retry", lambda: (lambda r: r.json() if r.status == 200 else None)(
            STACK.request("GET", f"/api/account/users/{user_id}", token=admin)), 15)
        self.assertEqual(profile["email"], email)
        self.assertEqual([d for d in json.loads(keel_bus("dlq", "list", "--json").stdout)
                          if d["consumer"] == consumer], [])


class D_Replay(unittest.TestCase):
    def test_replaying_a_consumer_from_an_earlier_time_changes_nothing(self):
        start = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        time.sleep(1.1)
        user = new_user(top_up=10**6)
        pid = new_product(100, price=100)
        orders = [place(user, [{"product_id": pid, "quantity": 1}]) for _ in range(20)]
        wait_final([(o["id"], user["token"]) for o in orders], 30)
        wait_for("receipts", lambda: all(STACK.request("GET", f"/api/fiscal/receipts?order_id={o['id']}",
                                                       token=user["token"]).json()["items"] for o in orders), 20)
        before = internal("fiscal", "/internal/receipts/stats")
        keel_bus("replay", "fiscal-payments_payment_captured_v1", "--from", start)
        wait_for("the replay to be consumed", lambda: all(
            c["lag"] == 0 for c in json.loads(keel_bus("lag", "--json").stdout)
            if c["consumer"] == "fiscal-payments_payment_captured_v1"), 30, every=0.5)
        time.sleep(1)
        self.assertEqual(internal("fiscal", "/internal/receipts/stats"), before)


class E_Chaos(unittest.TestCase):
    def test_kills_and_a_nats_restart_lose_nothing(self):
        users = [new_user(chat_id=random.randint(10**8, 10**9), top_up=10**9) for _ in range(4)]
        users.append(new_user(chat_id=random.randint(10**8, 10**9), top_up=3000))  # runs out: declines
        pid = new_product(CHAOS_ORDERS, price=100)
        stock_before = product_stock(pid)
        stop = threading.Event()
        kills = []
        placed = [0]

        def chaos():
            services = ["orders", "catalog", "payments", "fiscal", "notifications", "recommendations", "account"]
            restarted_nats = False
            while not stop.wait(1.5):
                svc = random.choice(services)
                STACK.cli("kill", f"{svc}#{random.randint(1, 2)}", check=False)
                kills.append(svc)
                if not restarted_nats and placed[0] >= CHAOS_ORDERS // 3:  # once, in the middle
                    STACK.cli("kill", "nats", check=False)
                    kills.append("nats")
                    restarted_nats = True

        t0 = time.monotonic()

        def one(i):  # about 100 orders/s, so that the kills land while orders flow
            delay = t0 + i / 100.0 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            user = users[i % len(users)]
            order = place(user, [{"product_id": pid, "quantity": 1}])
            placed[0] += 1
            return order, user

        killer = threading.Thread(target=chaos)
        killer.start()
        try:
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                orders = list(pool.map(one, range(CHAOS_ORDERS)))
        finally:
            stop.set()
            killer.join()
        self.assertIn("nats", kills)
        final = wait_final([(o["id"], u["token"]) for o, u in orders], 240)
        confirmed = [o for o in final.values() if o["status"] == "CONFIRMED"]
        cancelled = [o for o in final.values() if o["status"] == "CANCELLED"]
        print(f"\n  chaos: {len(kills)} kills ({', '.join(kills)}); {len(confirmed)} confirmed, "
              f"{len(cancelled)} cancelled", file=sys.stderr)
        self.assertEqual(len(final), CHAOS_ORDERS)
        self.assertGreater(len(cancelled), 0)  # the poor user ran out of money
        # stock moved equals items confirmed (cancelled orders gave theirs back)
        wait_for("stock to settle", lambda: stock_before - product_stock(pid) == len(confirmed), 60, every=0.5)
        # the ledger balances and agrees with the wallets
        ledger = wait_for("the ledger", lambda: internal("payments", "/internal/ledger/check"), 5)
        self.assertEqual(ledger["entries_sum"], 0)
        self.assertEqual(ledger["unbalanced_transactions"], 0)
        self.assertEqual(ledger["wallets_sum"], ledger["wallet_entries_sum"])
        # one receipt per confirmed order, never two
        confirmed_all = sum(1 for oid, token in PLACED if get_order(token, oid)["status"] == "CONFIRMED")
        stats = wait_for("every receipt", lambda: (lambda s: s if s["receipts"] >= confirmed_all else None)(
            internal("fiscal", "/internal/receipts/stats")), 120, every=0.5)
        self.assertEqual(stats["receipts"], stats["distinct_orders"])
        self.assertEqual(stats["receipts"], confirmed_all)
        # no notification twice
        time.sleep(2)
        for user in users:
            texts = [m["text"] for m in telegram(f"/_fake/messages?chat_id={user['chat_id']}")]
            self.assertEqual(len(texts), len(set(texts)), f"duplicate Telegram messages for {user['email']}")


class F_Deadline(unittest.TestCase):
    """After E_Chaos: a capture refunded here still has its receipt in fiscal, which E_Chaos counts."""

    def test_a_pending_order_past_its_deadline_is_cancelled_and_its_payment_given_back(self):
        user = new_user(top_up=50_000)
        pid = new_product(10, price=700)
        STACK.cli("stop", "payments")   # the capture cannot happen before the deadline
        try:
            order = place(user, [{"product_id": pid, "quantity": 3}])
            wait_for("catalog to reserve the stock", lambda: product_stock(pid) == 7, 20)
            # The order placed PENDING_TIMEOUT_S + 1 s ago, as far as orders' sweeper can tell.
            psql("orders", f"UPDATE orders SET created_at = created_at - interval '{PENDING_TIMEOUT_S + 1} seconds' "
                           f"WHERE id = '{order['id']}'")
            final = wait_final([(order["id"], user["token"])], 20)[order["id"]]
            self.assertEqual(final["status"], "CANCELLED", final)
            self.assertEqual(final["reason"], f"timeout: not paid within {PENDING_TIMEOUT_S} s")
            wait_for("catalog to release the stock", lambda: product_stock(pid) == 10, 20)
        finally:
            STACK.cli("start", "payments")
        # payments now sees the stock_reserved and the cancellation, in either order: no
        # capture, or a capture and its refund. Either way the wallet is whole.
        wait_for("payments to catch up", lambda: all(
            c["lag"] == 0 for c in json.loads(keel_bus("lag", "--json").stdout)
            if c["consumer"] in ("payments-catalog_stock_reserved_v1", "payments-orders_order_cancelled_v1")),
            30, every=0.5)
        time.sleep(1)
        wallet = STACK.request("GET", "/api/payments/wallet", token=user["token"]).json()
        self.assertEqual(wallet["balance"], 50_000)
        history = STACK.request("GET", "/api/payments/wallet/transactions", token=user["token"]).json()["items"]
        kinds = sorted(t["kind"] for t in history if t.get("order_id") == order["id"])
        self.assertIn(kinds, ([], ["capture", "refund"]))
        print(f"\n  deadline: payments saw {'the capture first (refunded)' if kinds else 'the cancellation first'}",
              file=sys.stderr)
        self.assertEqual(get_order(user["token"], order["id"])["status"], "CANCELLED")
        ledger = internal("payments", "/internal/ledger/check")
        self.assertEqual(ledger["entries_sum"], 0)
        self.assertEqual(ledger["unbalanced_transactions"], 0)
        self.assertEqual(ledger["wallets_sum"], ledger["wallet_entries_sum"])
        self.assertEqual(product_stock(pid), 10)


class G_PaymentProvider(unittest.TestCase):
    def test_a_top_up_is_credited_once_by_the_signed_callback(self):
        user = new_user()
        top_up, paid = top_up_wallet(user["token"], 12_345)
        self.assertEqual(STACK.request("GET", "/api/payments/wallet", token=user["token"]).json()["balance"], 12_345)
        settled = STACK.request("GET", f"/api/payments/top-ups/{top_up['id']}", token=user["token"]).json()
        self.assertEqual(settled["status"], "succeeded")
        self.assertEqual(settled["provider_payment_id"], paid["provider_payment_id"])
        # the provider sends the same callback again: answered, credited nothing
        again = STACK.request("POST", f"/_fake/payments/{paid['provider_payment_id']}/resend",
                              port=STACK.replica("payment-provider-fake", 1)["port"]).json()
        self.assertEqual(again["callback"]["status"], 200, again)
        self.assertFalse(again["callback"]["body"]["credited"])
        self.assertEqual(STACK.request("GET", "/api/payments/wallet", token=user["token"]).json()["balance"], 12_345)
        # someone else's top-up is not found
        other = new_user()
        self.assertEqual(STACK.request("GET", f"/api/payments/top-ups/{top_up['id']}", token=other["token"]).status,
                         404)

    def test_a_forged_callback_is_refused_and_credits_nothing(self):
        user = new_user()
        r = STACK.request("POST", "/api/payments/top-ups", token=user["token"], json_body={"amount": 999})
        self.assertEqual(r.status, 201, r)
        top_up = r.json()
        body = json.dumps({"top_up_id": top_up["id"], "provider_payment_id": "pay_forged", "status": "succeeded",
                           "amount": 999, "currency": top_up["currency"]})
        for signature in (None, "sha256=" + "0" * 64, "sha256=" + secrets.token_hex(32)):
            headers = {"X-Provider-Signature": signature} if signature else {}
            r = STACK.request("POST", "/api/payments/provider/callback", body=body, headers=headers)
            self.assertEqual(r.status, 401, r)
            self.assertEqual(r.content_type, "application/problem+json")
        self.assertEqual(STACK.request("GET", "/api/payments/wallet", token=user["token"]).json()["balance"], 0)
        self.assertEqual(STACK.request("GET", f"/api/payments/top-ups/{top_up['id']}",
                                       token=user["token"]).json()["status"], "pending")
        # a payment that failed at the provider credits nothing either
        paid = pay_at_provider(top_up, outcome="failed")
        self.assertEqual(paid["callback"]["status"], 200, paid)
        self.assertFalse(paid["callback"]["body"]["credited"])
        self.assertEqual(STACK.request("GET", "/api/payments/wallet", token=user["token"]).json()["balance"], 0)


def setUpModule():
    global STACK
    STACK = Stack(extra_env={"BUS_RELAY_POLL_MS": "100", "PAYMENT_PROVIDER_SECRET": PROVIDER_SECRET,
                             "ORDER_PENDING_TIMEOUT_S": str(PENDING_TIMEOUT_S)})
    try:
        STACK.up()
    except Exception:
        print(STACK.log_tails(40), file=sys.stderr)
        STACK.down()
        raise


def tearDownModule():
    if STACK is None:
        return
    STACK.down()
    if os.environ.get("E2E_KEEP"):
        print(f"stack kept in {STACK.var_dir}", file=sys.stderr)
    else:
        STACK.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
