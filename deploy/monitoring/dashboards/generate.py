#!/usr/bin/python3
"""Grafana from keel's dashboard definitions (deploy/monitoring/dashboards/*.yaml, format in
README.md and definition.schema.json): writes one dashboard JSON per definition into
deploy/monitoring/grafana/dashboards/, and Grafana's provisioning files (datasources:
VictoriaMetrics as Prometheus, Loki, Tempo with trace-to-logs; the dashboards provider) into
deploy/monitoring/grafana/provisioning/. The output is committed; tests/monitoring checks it
is what this script writes now.

    generate.py           write the files
    generate.py --check   exit 1 naming the files that differ from what would be written
    generate.py --queries print every panel's queries as JSON lines (dashboard, panel, expr, fault_only)

Standard library and python3-yaml only."""
import argparse
import glob
import json
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
MONITORING = os.path.dirname(HERE)
GRAFANA = os.path.join(MONITORING, "grafana")

# Datasource uids the dashboards refer to; the URLs are the compose service names
# (deploy/compose/monitoring.yaml, deploy/monitoring/compose.grafana.yaml).
VM = {"type": "prometheus", "uid": "victoriametrics"}
SCRAPE_INTERVAL = "15s"   # monitoring.yaml's SCRAPE_INTERVAL default: Grafana's $__rate_interval floor

GRID_WIDTH = 24
DEFAULT_WIDTH, DEFAULT_HEIGHT = 12, 8
INSTANT_TYPES = ("table", "bargauge")


def load_definitions():
    """{file name: definition} of every dashboard definition, by file name."""
    out = {}
    for path in sorted(glob.glob(os.path.join(HERE, "*.yaml"))):
        with open(path) as f:
            out[os.path.basename(path)] = yaml.safe_load(f)
    return out


def panels_of(definition):
    """(row title, panel) of every panel, in order."""
    for row in definition["rows"]:
        for panel in row["panels"]:
            yield row["title"], panel


def is_instant(panel, query):
    if "instant" in query:
        return bool(query["instant"])
    return panel.get("type", "timeseries") in INSTANT_TYPES or "$__range" in query["expr"]


def panel_options(kind):
    if kind == "timeseries":
        return {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "desc"}}
    reduce = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    if kind == "stat":
        return {"colorMode": "value", "graphMode": "area", "justifyMode": "auto",
                "orientation": "auto", "reduceOptions": reduce, "textMode": "auto"}
    if kind == "bargauge":
        return {"displayMode": "gradient", "orientation": "horizontal", "reduceOptions": reduce,
                "showUnfilled": True}
    return {"cellHeight": "sm", "footer": {"show": False}, "showHeader": True}


def grafana_panel(panel, panel_id, x, y):
    kind = panel.get("type", "timeseries")
    targets = []
    for i, q in enumerate(panel["queries"]):
        instant = is_instant(panel, q)
        target = {"datasource": VM, "refId": chr(ord("A") + i), "expr": q["expr"].strip(),
                  "legendFormat": q.get("legend", "__auto"), "instant": instant, "range": not instant}
        if kind == "table":
            target["format"] = "table"
        targets.append(target)
    field_defaults = {"unit": panel.get("unit", "short")}
    if kind == "timeseries":
        field_defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                    "showPoints": "never", "spanNulls": False}
    out = {
        "id": panel_id,
        "type": kind,
        "title": panel["title"],
        "datasource": VM,
        "gridPos": {"h": panel.get("height", DEFAULT_HEIGHT), "w": panel.get("width", DEFAULT_WIDTH),
                    "x": x, "y": y},
        "fieldConfig": {"defaults": field_defaults, "overrides": []},
        "options": panel_options(kind),
        "targets": targets,
    }
    description = panel.get("description", "")
    if panel.get("fault_only"):
        description = (description + "\n\n" if description else "") + "Data only under a fault: " + panel["fault_only"]
    if description:
        out["description"] = description
    if kind == "table":
        out["transformations"] = [{"id": "merge", "options": {}}]
    return out


def grafana_variable(var):
    query = var["query"]
    return {
        "name": var["name"],
        "label": var.get("label", var["name"]),
        "type": "query",
        "datasource": VM,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "includeAll": True,
        "allValue": ".+",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
    }


def grafana_dashboard(definition):
    panels, next_id, y = [], 1, 0
    for row in definition["rows"]:
        panels.append({"id": next_id, "type": "row", "title": row["title"], "collapsed": False,
                       "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y}, "panels": []})
        next_id += 1
        y += 1
        x, line_height = 0, 0
        for panel in row["panels"]:
            w = panel.get("width", DEFAULT_WIDTH)
            if x + w > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            panels.append(grafana_panel(panel, next_id, x, y))
            next_id += 1
            x += w
            line_height = max(line_height, panel.get("height", DEFAULT_HEIGHT))
        y += line_height
    return {
        "uid": definition["uid"],
        "title": definition["title"],
        "description": definition.get("description", ""),
        "tags": definition.get("tags", ["keel"]),
        "editable": False,
        "graphTooltip": 1,
        "timezone": "browser",
        "refresh": definition.get("refresh", "30s"),
        "time": {"from": "now-" + definition.get("time", "1h"), "to": "now"},
        "timepicker": {},
        "schemaVersion": 39,
        "version": 1,
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
            "type": "dashboard"}]},
        "links": [{"type": "dashboards", "tags": ["keel"], "asDropdown": True, "title": "keel",
                   "includeVars": False, "keepTime": True}],
        "templating": {"list": [grafana_variable(v) for v in definition.get("variables", [])]},
        "panels": panels,
    }


GENERATED = "# Generated by deploy/monitoring/dashboards/generate.py: edit that, not this file.\n"


def datasources():
    # Grafana expands $VAR and ${VAR} in provisioning files: a literal $ is written $$.
    return {"apiVersion": 1, "datasources": [
        {"name": "VictoriaMetrics", "uid": VM["uid"], "type": "prometheus", "access": "proxy",
         "url": "http://victoria-metrics:8428", "isDefault": True, "editable": False,
         "jsonData": {"timeInterval": SCRAPE_INTERVAL, "httpMethod": "POST",
                      "prometheusType": "Prometheus", "prometheusVersion": "2.24.0"}},
        {"name": "Loki", "uid": "loki", "type": "loki", "access": "proxy", "url": "http://loki:3100",
         "editable": False,
         "jsonData": {"maxLines": 1000, "derivedFields": [
             # the collector keeps trace_id as the record's trace id and as structured metadata
             {"name": "trace_id", "matcherType": "label", "matcherRegex": "trace_id",
              "datasourceUid": "tempo", "url": "$${__value.raw}", "urlDisplayLabel": "trace"}]}},
        {"name": "Tempo", "uid": "tempo", "type": "tempo", "access": "proxy", "url": "http://tempo:3200",
         "editable": False,
         "jsonData": {
             "tracesToLogsV2": {"datasourceUid": "loki", "spanStartTimeShift": "-5m",
                                "spanEndTimeShift": "5m", "filterByTraceID": True,
                                "filterBySpanID": False, "customQuery": True,
                                "query": '{service_name="$${__span.tags["service.name"]}"} | trace_id="$${__trace.traceId}"'},
             "tracesToMetrics": {"datasourceUid": VM["uid"], "spanStartTimeShift": "-5m",
                                 "spanEndTimeShift": "5m",
                                 "tags": [{"key": "service.name", "value": "job"}],
                                 "queries": [{"name": "requests per second",
                                              "query": 'sum by (job) (rate(http_requests_total{$$__tags}[1m]))'}]},
             "serviceMap": {"datasourceUid": VM["uid"]},
             "nodeGraph": {"enabled": True},
             "search": {"hide": False},
             "lokiSearch": {"datasourceUid": "loki"}}},
    ]}


def dashboard_provider():
    return {"apiVersion": 1, "providers": [
        {"name": "keel", "folder": "keel", "type": "file", "disableDeletion": True,
         "allowUiUpdates": False, "updateIntervalSeconds": 60,
         "options": {"path": "/var/lib/grafana/dashboards/keel", "foldersFromFilesStructure": False}}]}


def outputs():
    """{path relative to deploy/monitoring: text} of everything this script writes."""
    out = {}
    for name, definition in load_definitions().items():
        text = json.dumps(grafana_dashboard(definition), indent=2, ensure_ascii=False) + "\n"
        out[os.path.join("grafana", "dashboards", definition["uid"] + ".json")] = text
    out[os.path.join("grafana", "provisioning", "datasources", "keel.yaml")] = \
        GENERATED + yaml.safe_dump(datasources(), sort_keys=False, width=120)
    out[os.path.join("grafana", "provisioning", "dashboards", "keel.yaml")] = \
        GENERATED + yaml.safe_dump(dashboard_provider(), sort_keys=False, width=120)
    return out


def queries():
    """Every panel query: dicts with dashboard, row, panel, expr, instant, fault_only."""
    for _, definition in load_definitions().items():
        for row, panel in panels_of(definition):
            for q in panel["queries"]:
                yield {"dashboard": definition["uid"], "row": row, "panel": panel["title"],
                       "expr": q["expr"].strip(), "instant": is_instant(panel, q),
                       "fault_only": panel.get("fault_only")}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    ap.add_argument("--queries", action="store_true", help="print every panel query as a JSON line")
    args = ap.parse_args(argv)
    if args.queries:
        for q in queries():
            print(json.dumps(q))
        return 0
    wanted = outputs()
    generated_dir = os.path.join(GRAFANA, "dashboards")
    stale = [os.path.relpath(p, MONITORING) for p in glob.glob(os.path.join(generated_dir, "*.json"))
             if os.path.relpath(p, MONITORING) not in wanted]
    if args.check:
        differ = []
        for rel, text in sorted(wanted.items()):
            try:
                with open(os.path.join(MONITORING, rel)) as f:
                    if f.read() != text:
                        differ.append(rel)
            except FileNotFoundError:
                differ.append(rel + " (missing)")
        differ += [s + " (no definition)" for s in stale]
        if differ:
            print("generate.py: out of date, run deploy/monitoring/dashboards/generate.py:\n  "
                  + "\n  ".join(differ), file=sys.stderr)
            return 1
        return 0
    for rel, text in wanted.items():
        path = os.path.join(MONITORING, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    for rel in stale:
        os.unlink(os.path.join(MONITORING, rel))
    print(f"generate.py: wrote {len(wanted)} files under deploy/monitoring/grafana", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
