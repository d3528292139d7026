"""Seed 004's figures (the paper) and issue 9's targets, beside which the report puts keel's."""

THINK_S = 1.0   # the paper's think time and the lab's


def paper_steps_rps(users):
    """~100 rps per 100 users up to a ~500 rps plateau (figure 2)."""
    return min(users * 1.0 / THINK_S, 500.0)


PAPER_STEPS_MEAN_MS = {400: 80.0, 1000: 1000.0}   # 80 ms at 400 users; "over 1 s" at 1000 (a lower bound)
PAPER_CAPACITY_RPS = 500.0                         # the plateau
PAPER_FAILOVER = {1: "~10 s down", 2: "~1 s switch"}
PAPER_FAILOVER_S = {1: 10.0, 2: 1.0}
PAPER_SCALING = {1: 1.0, 2: 1.9, 4: 3.6, 8: 6.8}

TARGETS = {
    "steps_1000": "1000 users: zero errors, p99 < 50 ms, throughput within 5% of users / think time",
    "capacity": "capacity (p99 < 100 ms, shopper mix, open loop) >= 10x the paper's 500 rps = 5000 rps",
    "overload": "3x overload: goodput >= 90% of capacity, admitted p99 < 200 ms, shed answered < 5 ms, "
                "back to normal within 5 s",
    "failover": "2 instances: zero failed idempotent requests; 1 instance: downtime measured and shown",
    "dependency": "catalog frozen, breakers on: after the breaker opens, orders answers within 50 ms (p99) "
                  "with 503 + Retry-After",
}
