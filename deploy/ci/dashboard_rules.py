#!/usr/bin/env python3
"""Turns every query of the Grafana dashboards into a Prometheus recording rule, so that
`promtool check rules` parses each one (Grafana cannot run in CI). Template variables get
values Prometheus accepts: `$job` and `$queue` match anything, `$__rate_interval` is 1m.

Usage: dashboard_rules.py DASHBOARD.json... > rules.yml
"""
import json
import sys

SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "$job": ".*",
    "$queue": ".*",
}


def queries(path):
    with open(path, encoding="utf-8") as f:
        dashboard = json.load(f)
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            yield panel.get("title", "?"), target["expr"]


def main(paths):
    if not paths:
        sys.exit(__doc__)
    rules = []
    for path in paths:
        for title, expr in queries(path):
            for name, value in SUBSTITUTIONS.items():
                expr = expr.replace(name, value)
            if "$" in expr:
                sys.exit(f"{path}: panel {title!r}: unknown variable in {expr!r}")
            rules.append((title, expr))
    if not rules:
        sys.exit("no dashboard queries found")
    print("groups:\n  - name: dashboard-queries\n    rules:")
    for i, (title, expr) in enumerate(rules):
        print(f"      # {title}")
        print(f"      - record: dashboard:query_{i}")
        print(f"        expr: {json.dumps(expr)}")


if __name__ == "__main__":
    main(sys.argv[1:])
