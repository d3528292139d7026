#!/usr/bin/python3
"""Fault experiments on a whole stack (tests/faults/README.md): a dependency stopped while
orders flow, a service stopped past the orders' deadline, a relaying instance frozen, a
wiped JetStream store. After each: every order final, zero dead letters, the ledger sums to
zero, wallets and stock agree with the orders.

Run from the repo root:  /usr/bin/python3 tests/faults/outage_test.py [-v] [Class.test_name ...]
Env: KEEL_BUILD_DIR (default build/release), E2E_KEEP=1 keeps the stack's var dir,
     FAULT_OUTAGE_S (30): how long PostgreSQL and NATS stay down,
     FAULT_RATE (10): orders per second while they are down.
"""
import json
import os
import shutil
import signal
import sys
import time
import unittest
import uuid
from datetime import datetime, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from shop import Shop, SteadyOrders, wait_for  # noqa: E402
from stack_fixture import REPO, Stack  # noqa: E402

OUTAGE_S = float(os.environ.get("FAULT_OUTAGE_S", "30"))
RATE = float(os.environ.get("FAULT_RATE", "10"))
PENDING_TIMEOUT_S = 60   # orders' ORDER_PENDING_TIMEOUT_S on this stack
STACK = None
SHOP = None
FIGURES = []             # printed at the end: what the closing notes report


def figure(text):
    FIGURES.append(text)
    print(f"\n  {text}", file=sys.stderr)


def utc_now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Outage:
    """Orders from a few funded users at a steady rate, one dependency stopped in the middle;
    then the checks every outage must pass."""

    def run(self, test, service, outage_s):
        users = [SHOP.new_user(funds=10**9) for _ in range(3)]
        pid = SHOP.new_product(100_000, price=100)
        stock_before = SHOP.stock(pid)
        balances_before = sum(SHOP.balance(u) for u in users)
        dead_before = len(SHOP.dead_letters())
        flow = SteadyOrders(SHOP, users, pid, rate=RATE).start()
        time.sleep(5)
        STACK.cli("stop", service)
        time.sleep(outage_s)
        STACK.cli("start", service, timeout=300)
        back = time.monotonic()
        time.sleep(5)
        pairs = flow.stop()
        final = SHOP.wait_final(pairs, 60)
        to_final = time.monotonic() - back
        confirmed = [o for o in final.values() if o["status"] == "CONFIRMED"]
        stuck = len(pairs) - len(final)
        dead = len(SHOP.dead_letters()) - dead_before
        figure(f"{service} down {outage_s:.0f}s: {len(pairs)} orders, {len(confirmed)} confirmed, "
               f"{len(pairs) - len(confirmed)} cancelled, {stuck} stuck, {dead} dead letters; "
               f"all final {to_final:.1f}s after {service} was back")
        test.assertEqual(dead, 0, SHOP.dead_letters()[-3:])
        test.assertEqual(stuck, 0)
        # Nothing was short of money or stock: an outage must not cancel orders by itself
        # unless they outlived the orders' deadline.
        wait_for("stock to agree with the confirmed orders",
                 lambda: stock_before - SHOP.stock(pid) == len(confirmed), 30, every=0.5)
        spent = sum(o["total"] for o in confirmed)
        wait_for("wallets to agree with the confirmed orders",
                 lambda: balances_before - sum(SHOP.balance(u) for u in users) == spent, 30, every=0.5)
        SHOP.check_money()
        return final


class A_PostgresOutage(unittest.TestCase):
    def test_postgres_stopped_while_orders_flow(self):
        Outage().run(self, "postgres", OUTAGE_S)


class B_NatsOutage(unittest.TestCase):
    def test_nats_stopped_while_orders_flow(self):
        Outage().run(self, "nats", OUTAGE_S)


class C_PaymentsStopped(unittest.TestCase):
    def test_orders_without_payments_are_cancelled_and_no_money_is_kept(self):
        user = SHOP.new_user(funds=1_000_000)
        pid = SHOP.new_product(50, price=700)
        stock_before = SHOP.stock(pid)
        dead_before = len(SHOP.dead_letters())
        STACK.cli("stop", "payments")
        try:
            orders = [SHOP.place(user, [{"product_id": pid, "quantity": 2}]) for _ in range(10)]
            pairs = [(o["id"], user["token"]) for o in orders]
            t0 = time.monotonic()
            final = SHOP.wait_final(pairs, PENDING_TIMEOUT_S + 30)
            figure(f"payments stopped: {len(final)} orders cancelled "
                   f"{time.monotonic() - t0:.1f}s after placing (deadline {PENDING_TIMEOUT_S}s)")
            for o in final.values():
                self.assertEqual(o["status"], "CANCELLED", o)
            wait_for("the stock to come back", lambda: SHOP.stock(pid) == stock_before, 30, every=0.5)
        finally:
            STACK.cli("start", "payments", timeout=300)
        # payments now sees the reservations of orders that are already cancelled: it must not
        # capture them, or must refund what it captured.
        wait_for("payments to drain its backlog", lambda: all(
            c["lag"] == 0 for c in json.loads(SHOP.keel_bus("lag", "--json").stdout)
            if c["consumer"].startswith("payments-")), 60, every=0.5)
        time.sleep(2)
        self.assertEqual(SHOP.balance(user), 1_000_000)
        for oid, token in pairs:
            self.assertEqual(SHOP.order(token, oid)["status"], "CANCELLED")
        self.assertEqual(SHOP.stock(pid), stock_before)
        self.assertEqual(len(SHOP.dead_letters()) - dead_before, 0)
        SHOP.check_money()


class D_FrozenRelay(unittest.TestCase):
    def test_a_frozen_relaying_instance_loses_the_relay(self):
        """Each orders instance frozen in turn (one of them holds the relay lease): an order
        placed on the other one must still be published within 10 s. Published is seen as
        catalog reserving its stock (catalog is not frozen). The order's end may wait longer:
        an event the frozen instance had fetched comes back after the consumer's ack wait."""
        user = SHOP.new_user(funds=10**7)
        pid = SHOP.new_product(1000, price=100)
        pairs = []
        for frozen, live in ((1, 2), (2, 1)):
            stock = SHOP.stock(pid)
            pid_frozen = STACK.replica("orders", frozen)["pid"]
            port_live = STACK.replica("orders", live)["port"]
            os.kill(pid_frozen, signal.SIGSTOP)
            try:
                t0 = time.monotonic()
                order = SHOP.place(user, [{"product_id": pid, "quantity": 1}], port=port_live,
                                   path="/api/orders")
                pairs.append((order["id"], user["token"]))
                wait_for("catalog to reserve the order's stock", lambda: SHOP.stock(pid) == stock - 1, 20)
                took = time.monotonic() - t0
            finally:
                os.kill(pid_frozen, signal.SIGCONT)
            figure(f"orders#{frozen} frozen: an order placed on orders#{live} was published and its "
                   f"stock reserved in {took:.1f}s")
            self.assertLess(took, 10.0)
        final = SHOP.wait_final(pairs, 60)
        self.assertEqual([o["status"] for o in final.values()], ["CONFIRMED"] * len(pairs))
        SHOP.check_money()


class E_WipedJetStream(unittest.TestCase):
    def test_outbox_republish_after_a_wiped_store(self):
        """Events JetStream acknowledged, then lost with its store: republishing the window
        from catalog's outbox brings every order to its end. Payments is stopped so that
        catalog's stock_reserved events wait in the stream, unread, when the store goes."""
        user = SHOP.new_user(funds=10**7)
        pid = SHOP.new_product(1000, price=100)
        since = utc_now()
        time.sleep(1.1)
        STACK.cli("stop", "payments")
        try:
            orders = [SHOP.place(user, [{"product_id": pid, "quantity": 1}]) for _ in range(15)]
            consumer = "payments-catalog_stock_reserved_v1"
            wait_for("catalog's events to wait in the stream for payments", lambda: [
                c for c in json.loads(SHOP.keel_bus("lag", "--json").stdout)
                if c["consumer"] == consumer and c["lag"] >= len(orders)], 20, every=0.5)
            STACK.cli("stop", "nats")
            store = os.path.join(STACK.var_dir, "nats")
            shutil.rmtree(store)
            os.makedirs(store)
            STACK.cli("start", "nats", timeout=120)
        finally:
            STACK.cli("start", "payments", timeout=300)
        # The services declare their streams and consumers again by themselves (a few
        # seconds); the events are the operator's step.
        wait_for("the streams to be declared again", lambda: [
            c for c in json.loads(SHOP.keel_bus("lag", "--json").stdout) if c["consumer"] == consumer],
            30, every=0.5)
        out = SHOP.keel_bus("outbox", "republish", "--service", "catalog", "--since", since).stdout
        figure(f"wiped JetStream store: keel-bus outbox republish: {out.strip()}")
        t0 = time.monotonic()
        final = SHOP.wait_final([(o["id"], user["token"]) for o in orders], 60)
        figure(f"wiped JetStream store: {len(final)} orders final {time.monotonic() - t0:.1f}s after "
               f"the republish")
        self.assertEqual(sorted(o["status"] for o in final.values()), ["CONFIRMED"] * len(orders))
        SHOP.check_money()


class F_NewerProducer(unittest.TestCase):
    def test_an_event_written_with_a_newer_compatible_schema_is_consumed(self):
        """A producer on a newer version during a rolling deploy: keel-bus publishes
        auth.user_registered.v1 written with the schema plus a field with a default, and
        registers that schema as a new producer does. account, which embeds only the
        current version, looks the writer's schema up, resolves it and makes the profile."""
        with open(os.path.join(REPO, "schemas", "auth.user_registered.v1.avsc")) as f:
            schema = json.load(f)
        schema["fields"].append({"name": "referrer", "type": "string", "default": ""})
        path = os.path.join(STACK.var_dir, "user_registered_next.avsc")
        with open(path, "w") as f:
            json.dump(schema, f)
        dead_before = len(SHOP.dead_letters())
        user_id = str(uuid.uuid4())
        event = {"user_id": user_id, "email": f"next-{user_id[:8]}@example.com",
                 "registered_at": int(time.time() * 1000), "referrer": "rolling-deploy"}
        out = json.loads(SHOP.keel_bus("publish", "auth.user_registered.v1", json.dumps(event),
                                       "--schema", path).stdout)
        admin = SHOP.admin_token()
        t0 = time.monotonic()
        profile = wait_for("account to make the profile", lambda: (
            lambda r: r.json() if r.status == 200 else None)(
            STACK.request("GET", f"/api/account/users/{user_id}", token=admin)), 30, every=0.5)
        figure(f"newer producer schema {out['fingerprint']}: consumed by account in "
               f"{time.monotonic() - t0:.1f}s, {len(SHOP.dead_letters()) - dead_before} dead letters")
        self.assertEqual(profile["email"], event["email"])
        self.assertEqual(len(SHOP.dead_letters()) - dead_before, 0)
        # a schema the consumers could not read is refused before anything is published
        bad = dict(schema, fields=[f for f in schema["fields"] if f["name"] != "email"] +
                   [{"name": "nickname", "type": "string"}])
        with open(path, "w") as f:
            json.dump(bad, f)
        p = SHOP.keel_bus("publish", "auth.user_registered.v1", json.dumps(event), "--schema", path,
                          check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not compatible", p.stderr)


def setUpModule():
    global STACK, SHOP
    STACK = Stack(extra_env={"BUS_RELAY_POLL_MS": "100", "ORDER_PENDING_TIMEOUT_S": str(PENDING_TIMEOUT_S)})
    try:
        STACK.up()
    except Exception:
        print(STACK.log_tails(40), file=sys.stderr)
        STACK.down()
        raise
    SHOP = Shop(STACK)


def tearDownModule():
    if STACK is None:
        return
    if FIGURES:
        print("\nfigures:\n  " + "\n  ".join(FIGURES), file=sys.stderr)
    STACK.down()
    if os.environ.get("E2E_KEEP"):
        print(f"stack kept in {STACK.var_dir}", file=sys.stderr)
    else:
        STACK.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
