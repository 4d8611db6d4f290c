#!/usr/bin/env bash
# Security scans of packaged CloudFormation templates: checkov's CloudFormation checks and this
# project's Guard rules (security/guard/*.guard, run by cfn-guard), judged against the skips and
# their reasons in security/skips.yml (security/scan_report.py). Exit 0: every failure is
# justified there and every skip still matches a failure.
#
#   scripts/security-scan.sh <name>=<template.json> [<name>=<template.json> ...]
#   scripts/security-scan.sh --install-only
#   scripts/security-scan.sh --help
#
# Tools are installed on first use under .local/tools/, pinned, once per version:
#   checkov    PyPI, into its own venv (about a minute)
#   cfn-guard  crates.io, compiled with cargo (about 5 min of CPU; 9 min wall-clock on a busy
#              2-core machine). No prebuilt binary is fetched: compiled once, then cached.
set -euo pipefail

CHECKOV_VERSION=3.3.30
CFN_GUARD_VERSION=3.2.1
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.local/tools"
checkov_venv="$tools/checkov-$CHECKOV_VERSION"
guard_root="$tools/cfn-guard-$CFN_GUARD_VERSION"

usage() {
  # The comment block at the top of this file.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

find_python() {
  for candidate in python3 python3.13 python3.12 python3.11 python3.10 python3.9; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  echo "checkov needs Python >= 3.9 with the venv module (apt-get install python3 python3-venv)" >&2
  exit 1
}

install_tools() {
  mkdir -p "$tools"
  # Parallel test workers may all find them missing: one installs, the others wait.
  exec 9>"$tools/security-scan.lock"
  flock 9
  if [[ ! -f "$checkov_venv/.installed" ]]; then
    echo "[setup] checkov: installing $CHECKOV_VERSION into .local/tools/checkov-$CHECKOV_VERSION (first run only)..." >&2
    rm -rf "$checkov_venv"
    "$(find_python)" -m venv "$checkov_venv"
    "$checkov_venv/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
    touch "$checkov_venv/.installed"
  fi
  if [[ ! -x "$guard_root/bin/cfn-guard" ]]; then
    if ! command -v cargo >/dev/null 2>&1; then
      echo "cfn-guard is compiled from crates.io and needs Rust's cargo (https://rustup.rs, or apt-get install cargo)" >&2
      exit 1
    fi
    echo "[setup] cfn-guard: compiling $CFN_GUARD_VERSION from crates.io into .local/tools/cfn-guard-$CFN_GUARD_VERSION (first run only, about 5 min of CPU)..." >&2
    cargo install --quiet --locked cfn-guard --version "$CFN_GUARD_VERSION" --root "$guard_root" >&2
  fi
  flock -u 9
}

case "${1:-}" in
  -h | --help | "")
    usage
    [[ -n "${1:-}" ]] && exit 0 || exit 2
    ;;
  --install-only)
    install_tools
    exit 0
    ;;
esac

install_tools
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
reports=()
for arg in "$@"; do
  name="${arg%%=*}"
  template="${arg#*=}"
  [[ "$name" != "$arg" && -f "$template" ]] || { echo "not <name>=<template.json>: $arg" >&2; exit 2; }
  # Both tools exit non-zero when a check fails: the verdict is scan_report.py's, on their JSON.
  "$checkov_venv/bin/checkov" --quiet --compact --framework cloudformation --output json \
    --file "$template" >"$work/$name.checkov.json" 2>"$work/$name.checkov.err" || true
  if [[ ! -s "$work/$name.checkov.json" ]]; then
    cat "$work/$name.checkov.err" >&2
    exit 1
  fi
  "$guard_root/bin/cfn-guard" validate --data "$template" --rules "$root/security/guard" \
    --output-format json --structured --show-summary none >"$work/$name.guard.json" || true
  reports+=("$name=$work/$name.checkov.json,$work/$name.guard.json")
done
exec "$checkov_venv/bin/python" "$root/security/scan_report.py" "$root/security/skips.yml" "${reports[@]}"
