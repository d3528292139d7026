"""The shop as a client sees it, for the tests that drive orders through a running stack
(tests/faults): users with money, products, orders placed with retries, waiting for final
states, and the global checks that must hold after any fault (ledger, stock, dead letters).

    shop = Shop(stack)
    user = shop.new_user(funds=10**6)
    order = shop.place(user, [{"product_id": pid, "quantity": 1}])
"""
import concurrent.futures
import json
import os
import subprocess
import threading
import time
import uuid

from stack_fixture import REPO

FINAL = ("CONFIRMED", "CANCELLED")


def wait_for(what, pred, timeout=30.0, every=0.1):
    """Polls pred() until it returns something true; returns that (or raises with the last value)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (OSError, AssertionError) as e:  # a dependency is still down: keep polling
            last = e
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class Shop:
    def __init__(self, stack, build_dir=None):
        self.stack = stack
        self.build = build_dir or os.environ.get("KEEL_BUILD_DIR") or os.path.join(REPO, "build", "release")
        self.keel_bus_bin = os.path.join(self.build, "tools", "bus", "keel-bus")
        self._login_lock = threading.Lock()

    # -- the stack's secrets and tools ---------------------------------------------------
    def secrets(self):
        out = {}
        with open(os.path.join(self.stack.var_dir, "secrets.env")) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.strip().split("=", 1)
                    out[k] = v.strip("'\"")
        return out

    def keel_bus(self, *args, check=True, timeout=60):
        """keel-bus with the operator's NATS identity, as an operator runs it on this stack."""
        # As on a `make run` machine: the stack's secrets (the operator's NATS password, the
        # services' database passwords for the outbox commands) and its ports.
        env = dict(os.environ, NATS_URL=self.stack.nats_url, KEEL_VAR_DIR=self.stack.var_dir,
                   PG_PORT=str(self.stack.pg_port))
        env.update(self.secrets())
        p = subprocess.run([self.keel_bus_bin, *args], env=env, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"keel-bus {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def dead_letters(self):
        return json.loads(self.keel_bus("dlq", "list", "--json").stdout)

    def internal(self, service, path):
        """GET on a service's /internal API through the internal gateway (service token)."""
        token = self.secrets()["KEEL_SERVICE_TOKEN"]
        r = self.stack.request("GET", f"/{service}{path}", token=token, port=self.stack.internal_port,
                               timeout=10)
        assert r.status == 200, r
        return r.json()

    # -- users, products, money ------------------------------------------------------------
    def login(self, email, password):
        with self._login_lock:  # nginx allows 10 logins/s per address
            time.sleep(0.11)
            r = self.stack.login(email, password)
        assert r.status == 200, r
        return r.json()["access_token"]

    def admin_token(self):
        return self.login(self.stack.admin_email, self.stack.admin_password)

    def fund(self, user, amount):
        """Credits the user's wallet through the operators' route (service token, internal gateway):
        the tests are about orders, not about paying at the provider (tests/e2e/saga_test.py)."""
        token = self.secrets()["KEEL_SERVICE_TOKEN"]
        r = self.stack.request("POST", f"/payments/internal/wallets/{user['id']}/top-up", token=token,
                               port=self.stack.internal_port, headers={"Idempotency-Key": uuid.uuid4().hex},
                               json_body={"amount": amount}, timeout=10)
        assert r.status == 200, r

    def balance(self, user):
        r = self.stack.request("GET", "/api/payments/wallet", token=user["token"])
        assert r.status == 200, r
        return r.json()["balance"]

    def new_user(self, funds=None):
        email = f"fault-{uuid.uuid4().hex[:10]}@example.com"
        r = self.stack.register(email, "correct-horse-battery")
        assert r.status == 201, r
        user = {"id": r.json()["user_id"], "email": email}
        user["token"] = self.login(email, "correct-horse-battery")
        wait_for("the profile", lambda: self.stack.request("GET", "/api/account/me",
                                                           token=user["token"]).status == 200, 15)
        if funds:
            self.fund(user, funds)
        return user

    def new_product(self, stock, price=100):
        sku = "FAULT-" + uuid.uuid4().hex[:10]
        r = self.stack.request("POST", "/api/catalog/products", token=self.admin_token(),
                               json_body={"sku": sku, "name": f"fault {sku}", "price_minor": price,
                                          "currency": "USD", "stock": stock})
        assert r.status == 201, r
        return r.json()["id"]

    def stock(self, pid):
        r = self.stack.request("GET", f"/api/catalog/products/{pid}")
        assert r.status == 200, r
        return r.json()["stock"]

    # -- orders ----------------------------------------------------------------------------
    def place(self, user, items, key=None, give_up_after=120.0, port=None, path="/api/orders"):
        """POST the order, retried with the same Idempotency-Key on 5xx or a broken connection
        for as long as an outage may last. Returns the order."""
        key = key or uuid.uuid4().hex
        deadline = time.monotonic() + give_up_after
        last = None
        while time.monotonic() < deadline:
            try:
                r = self.stack.request("POST", path, token=user["token"], port=port,
                                       headers={"Idempotency-Key": key}, json_body={"items": items},
                                       timeout=10)
            except OSError as e:
                last = e
            else:
                if r.status in (200, 201):
                    return r.json()
                last = r
                if r.status < 500 and r.status != 429:
                    raise AssertionError(f"place order: {r!r}")
            time.sleep(0.3)
        raise AssertionError(f"place order kept failing for {give_up_after}s: {last!r}")

    def order(self, token, order_id):
        r = self.stack.request("GET", f"/api/orders/{order_id}", token=token, timeout=10)
        assert r.status == 200, r
        return r.json()

    def wait_final(self, pairs, timeout):
        """Waits until every (order id, token) is CONFIRMED or CANCELLED; returns {id: order}."""
        deadline = time.monotonic() + timeout
        done, pending = {}, list(pairs)
        while pending:
            still = []
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                def read(pair):
                    try:
                        return self.order(pair[1], pair[0])
                    except (OSError, AssertionError):
                        return None
                for pair, order in zip(pending, pool.map(read, pending)):
                    if order is not None and order["status"] in FINAL:
                        done[pair[0]] = order
                    else:
                        still.append(pair)
            pending = still
            if pending:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{len(pending)} orders not final after {timeout}s, "
                                         f"e.g. {pending[:3]}")
                time.sleep(0.5)
        return done

    # -- what must hold after any fault ------------------------------------------------------
    def check_money(self):
        """The ledger balances and agrees with the wallets."""
        ledger = self.internal("payments", "/internal/ledger/check")
        assert ledger["entries_sum"] == 0, ledger
        assert ledger["unbalanced_transactions"] == 0, ledger
        assert ledger["wallets_sum"] == ledger["wallet_entries_sum"], ledger
        return ledger


class SteadyOrders:
    """Places orders at a steady rate from a background thread until stopped; every order is
    retried (same key) until it is accepted, so an outage delays orders but loses none."""

    def __init__(self, shop, users, product, rate=10.0, workers=12):
        self.shop, self.users, self.product, self.rate = shop, users, product, rate
        self.placed = []  # (order, user)
        self.errors = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(workers)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _one(self, i):
        user = self.users[i % len(self.users)]
        try:
            order = self.shop.place(user, [{"product_id": self.product, "quantity": 1}])
        except Exception as e:  # reported by stop()
            with self._lock:
                self.errors.append(e)
            return
        with self._lock:
            self.placed.append((order, user))

    def _run(self):
        i = 0
        t0 = time.monotonic()
        futures = []
        while not self._stop.is_set():
            futures.append(self._pool.submit(self._one, i))
            i += 1
            delay = t0 + i / self.rate - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
        concurrent.futures.wait(futures)

    def stop(self):
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)
        if self.errors:
            raise AssertionError(f"{len(self.errors)} orders could not be placed: {self.errors[:3]}")
        return [(o["id"], u["token"]) for o, u in self.placed]
