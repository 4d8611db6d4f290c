#!/usr/bin/env bash
# Runs cfn-lint from a project-local venv (.local/tools/cfn-lint), installing it on first use.
# Idempotent and quiet on reuse: the venv is rebuilt only when the pinned version changes.
#   scripts/cfn-lint.sh <template.json> [more cfn-lint args]
#   scripts/cfn-lint.sh --install-only
set -euo pipefail
# --help: the comment block above is the help; print it instead of acting.
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi

CFN_LINT_VERSION=1.58.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.local/tools/cfn-lint"
stamp="$venv/.installed-$CFN_LINT_VERSION"

mkdir -p "$(dirname "$venv")"
# Parallel test workers may all find it missing: one installs, the others wait for it.
exec 9>"$venv.lock"
flock 9
if [[ ! -f "$stamp" ]]; then
  echo "[setup] cfn-lint: installing $CFN_LINT_VERSION into .local/tools/cfn-lint (first run only)..." >&2
  python=""
  for candidate in python3 python3.13 python3.12 python3.11 python3.10 python3.9; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
      python="$candidate"
      break
    fi
  done
  if [[ -z "$python" ]]; then
    echo "cfn-lint needs Python >= 3.9 with the venv module (apt-get install python3 python3-venv)" >&2
    exit 1
  fi
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION" >&2
  touch "$stamp"
fi
flock -u 9

if [[ "${1:-}" == "--install-only" ]]; then
  exit 0
fi

cd "$root"
exec "$venv/bin/cfn-lint" "$@"
