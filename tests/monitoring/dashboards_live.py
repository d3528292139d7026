"""Every dashboard panel's query returns data from the live VictoriaMetrics of a stack with
monitoring on, after ordinary traffic through the gateway: a user registers, logs in and reads
the catalog, an admin adds a product, one order is confirmed and one cancelled (no money), a
request for a missing product answers 404; then, while queries still return nothing, a little
more of it (a catalog read and an order) every second, as steady traffic would give. Panels declared `fault_only` in their definition are
not expected to have data, and the check says which and why.

Shared: dashboards_live_test.py runs it on a stack of its own; any test that already runs a
stack with monitoring (tests/e2e/monitoring_test.py) can call check() on its stack instead:

    import dashboards_live
    report = dashboards_live.check(STACK)      # raises AssertionError listing empty panels
"""
import os
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import dashboard_queries as dq  # noqa: E402
from shop import Shop  # noqa: E402

DATA_WAIT_S = 45.0       # scrapes every 2 s in tests: a new series has 2 samples within seconds
RATE_INTERVAL = "1m"     # $__rate_interval: covers the traffic, which ends just before the check
TIME_RANGE = "10m"       # $__range: the stack is younger than that


class Traffic:
    """What ordinary visits produce, through the gateway."""

    def __init__(self, stack):
        self.stack, self.shop = stack, Shop(stack)

    def first(self):
        """Every kind of request once; returns the orders' final states."""
        stack, shop = self.stack, self.shop
        self.buyer = shop.new_user(funds=10 ** 6)   # register, login, profile (account), wallet top-up
        broke = shop.new_user()                      # no money: its order is cancelled by payments
        self.product = shop.new_product(stock=1000, price=500)
        r = stack.request("GET", f"/api/catalog/products/{uuid.uuid4()}")
        assert r.status == 404, r
        r = stack.request("GET", f"/api/recommendations/products/{self.product}")
        assert r.status in (200, 404), r
        ok = shop.place(self.buyer, self.items())
        refused = shop.place(broke, self.items())
        done = shop.wait_final([(ok["id"], self.buyer["token"]), (refused["id"], broke["token"])], 60)
        states = {done[ok["id"]]["status"], done[refused["id"]]["status"]}
        assert states == {"CONFIRMED", "CANCELLED"}, done
        self.more()
        return done

    def more(self):
        """A little more of the same, as steady traffic gives: rate() needs a series to grow
        between two scrapes, and orders creates its saga series at an instance's first order."""
        r = self.stack.request("GET", "/api/catalog/products?limit=5")
        assert r.status == 200, r
        order = self.shop.place(self.buyer, self.items())
        done = self.shop.wait_final([(order["id"], self.buyer["token"])], 60)
        assert done[order["id"]]["status"] == "CONFIRMED", done

    def items(self):
        return [{"product_id": self.product, "quantity": 1}]


def empty_panels(stack, queries):
    """The queries (of panels not fault_only) with no data now."""
    out = []
    for q in queries:
        if q["fault_only"]:
            continue
        if not stack.vm_query(dq.runnable(q["expr"], RATE_INTERVAL, TIME_RANGE)):
            out.append(q)
    return out


def check(stack, log=sys.stderr):
    """Traffic, then every query of every panel that is not fault_only has data within
    DATA_WAIT_S. Returns {"seconds": ..., "queries": n, "fault_only": [(dashboard, panel, why)]}."""
    queries = dq.all_queries()
    visits = Traffic(stack)
    visits.first()
    t0 = time.monotonic()
    missing = queries
    while True:
        missing = empty_panels(stack, missing)
        if not missing or time.monotonic() - t0 > DATA_WAIT_S:
            break
        visits.more()
        time.sleep(1)
    took = time.monotonic() - t0
    fault_only = sorted({(q["dashboard"], q["panel"], q["fault_only"]) for q in queries if q["fault_only"]})
    for d, p, why in fault_only:
        print(f"dashboards: not expected to have data without a fault: {d} / {p}: {why}", file=log)
    if missing:
        lines = "\n".join(f"  {q['dashboard']} / {q['panel']}: {q['expr']}" for q in missing)
        raise AssertionError(f"{len(missing)} dashboard queries returned no data {DATA_WAIT_S:.0f}s "
                             f"after the traffic:\n{lines}")
    checked = sum(1 for q in queries if not q["fault_only"])
    print(f"dashboards: all {checked} queries returned data {took:.1f}s after the traffic", file=log)
    return {"seconds": took, "queries": checked, "fault_only": fault_only}
