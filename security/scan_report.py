"""Judges the template scans against security/skips.yml (run by scripts/security-scan.sh).

Every failed checkov check and every failed Guard rule, per resource, must be listed in the skips
file with a reason; a skip that matches no failure in any scanned template is stale. Prints a
summary per template and one JSON line (``security-scan-result: {...}``) for the contract tests;
exits 1 on any unjustified failure or stale skip.

    python security/scan_report.py <skips.yml> <name>=<checkov.json>,<guard.json> ...
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict

import yaml

RESOURCE_IN_PATH = re.compile(r"^/Resources/([^/]+)")


def load_skips(path: str) -> dict[str, dict[str, dict]]:
    with open(path, encoding="utf-8") as handle:
        skips = yaml.safe_load(handle) or {}
    for tool in ("checkov", "guard"):
        for check, skip in (skips.get(tool) or {}).items():
            if not isinstance(skip, dict) or not str(skip.get("reason", "")).strip():
                raise SystemExit(f"security/skips.yml: {tool} {check} has no reason")
            resources = skip.get("resources")
            if resources != "*" and not (isinstance(resources, list) and resources):
                raise SystemExit(f'security/skips.yml: {tool} {check} needs resources: "*" or a list')
    return {tool: skips.get(tool) or {} for tool in ("checkov", "guard")}


def checkov_failures(report: dict | list) -> tuple[int, list[tuple[str, str]]]:
    """(passed count, [(check id, logical id)]) of a checkov JSON report."""
    reports = report if isinstance(report, list) else [report]
    passed, failed = 0, []
    for each in reports:
        if each.get("check_type") not in (None, "cloudformation"):
            continue
        passed += each.get("summary", {}).get("passed", 0)
        for failure in each.get("results", {}).get("failed_checks", []):
            failed.append((failure["check_id"], failure["resource"].split(".")[-1]))
    return passed, failed


def _paths(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["path"]] if isinstance(node.get("path"), str) else []
        for value in node.values():
            found += _paths(value)
        return found
    if isinstance(node, list):
        return [path for value in node for path in _paths(value)]
    return []


def guard_failures(report: list) -> tuple[int, list[tuple[str, str]]]:
    """(passed rule count, [(rule, logical id)]) of a `cfn-guard validate --structured` report."""
    passed, failed = 0, []
    for each in report:
        passed += len(each.get("compliant", []))
        for entry in each.get("not_compliant", []):
            rule = entry["Rule"]["name"]
            resources = {m.group(1) for path in _paths(entry) if (m := RESOURCE_IN_PATH.match(path))}
            failed += [(rule, resource) for resource in sorted(resources)] or [(rule, "(template)")]
    return passed, failed


def skipped(skips: dict[str, dict], check: str, resource: str) -> bool:
    skip = skips.get(check)
    return bool(skip) and (skip["resources"] == "*" or resource in skip["resources"])


def main(argv: list[str]) -> int:
    skips = load_skips(argv[0])
    used: dict[str, set[str]] = defaultdict(set)
    result = {"templates": {}, "unjustified": [], "stale": []}
    for arg in argv[1:]:
        name, _, files = arg.partition("=")
        checkov_path, guard_path = files.split(",")
        with open(checkov_path, encoding="utf-8") as handle:
            checkov_passed, checkov_failed = checkov_failures(json.load(handle))
        with open(guard_path, encoding="utf-8") as handle:
            guard_passed, guard_failed = guard_failures(json.load(handle))
        summary = {}
        for tool, passed, failed in (("checkov", checkov_passed, checkov_failed), ("guard", guard_passed, guard_failed)):
            justified = 0
            for check, resource in failed:
                if skipped(skips[tool], check, resource):
                    used[tool].add(check)
                    justified += 1
                else:
                    result["unjustified"].append({"template": name, "tool": tool, "check": check, "resource": resource})
            summary[tool] = {"passed": passed, "failed": len(failed), "skipped": justified}
            print(f"[security] {name}: {tool} {passed} passed, {len(failed)} failed ({justified} skipped with a reason in security/skips.yml)")
        result["templates"][name] = summary
    for tool in ("checkov", "guard"):
        for check in sorted(set(skips[tool]) - used[tool]):
            result["stale"].append({"tool": tool, "check": check})
    for failure in result["unjustified"]:
        print(f"[security] UNJUSTIFIED {failure['template']}: {failure['tool']} {failure['check']} on {failure['resource']}")
    for stale in result["stale"]:
        print(f"[security] STALE skip: {stale['tool']} {stale['check']} matches no failure any more: remove it")
    print("security-scan-result: " + json.dumps(result, sort_keys=True))
    return 1 if result["unjustified"] or result["stale"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
