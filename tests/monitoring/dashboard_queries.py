"""The dashboards' panel queries made runnable outside Grafana: Grafana's placeholders
replaced by what Grafana would send for the default view (every value of each variable, a
rate window of a few scrapes, the time range). Shared by dashboards_test.py and
dashboards_live_test.py."""
import os
import re
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DASHBOARDS = os.path.join(REPO, "deploy", "monitoring", "dashboards")
sys.path.insert(0, DASHBOARDS)

import generate  # noqa: E402  (deploy/monitoring/dashboards/generate.py)

GRAFANA_BUILTINS = ("__rate_interval", "__interval", "__range")


def variables_of(dashboard_uid):
    for definition in generate.load_definitions().values():
        if definition["uid"] == dashboard_uid:
            return [v["name"] for v in definition.get("variables", [])]
    raise KeyError(dashboard_uid)


def used_variables(expr):
    """The $names (and ${names}) an expression uses, label_replace's $1 aside."""
    names = set(re.findall(r"\$(?:\{)?([A-Za-z_]\w*)", expr))
    return names


def runnable(expr, rate_interval="1m", time_range="1h"):
    """expr with Grafana's placeholders as Grafana fills them for the default view; every
    dashboard variable's default is All, whose value generate.py sets to the regex .+"""
    out = expr.replace("$__rate_interval", rate_interval).replace("$__interval", rate_interval)
    out = out.replace("$__range", time_range)
    return re.sub(r"\$(?:\{)?([a-z_][a-z0-9_]*)\}?(?=[^\w]|$)",
                  lambda m: ".+" if not m.group(1).startswith("__") else m.group(0), out)


def all_queries():
    return list(generate.queries())
