#!/usr/bin/env bash
# Runs one SQL statement against the local lake (Iceberg JDBC catalog of a profile) and prints a
# table. Usage: scripts/query.sh "SELECT * FROM crypto_db.bars_1h LIMIT 10" [profile]
# (make query SQL="..." calls this). Profile: run (default) or test; LAKE_DIR overrides the lake directory.
# QUICK=1: the same tables without Spark (scripts/quick_query.py: PyIceberg + DuckDB, about a
# second instead of a Spark start; tables only, not views), its packages installed on first use.
set -euo pipefail
# --help: the comment block above is the help; print it instead of acting.
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
root="$(cd "$(dirname "$0")/.." && pwd)"
sql="${1:?usage: scripts/query.sh \"SQL\" [profile]}"
profile="${2:-${PROFILE:-run}}"
lake="${LAKE_DIR:-$root/.local/$profile/lake}"
if [ ! -f "$lake/catalog.db" ]; then
  echo "no local lake at $lake (run lake-refresh first)" >&2
  exit 1
fi
if [ "${QUICK:-}" = "1" ]; then
  python="$root/.local/venv/bin/python"
  if ! "$python" -c "import pyiceberg, duckdb" 2>/dev/null; then
    echo "[query] installing the quick read path (PyIceberg, DuckDB) into .local/venv, first use only..." >&2
    "$python" -m pip install --disable-pip-version-check -q -r "$root/scripts/quick-query-requirements.txt"
  fi
  exec "$python" "$root/scripts/quick_query.py" "$sql" "$lake"
fi
jars="$root/.local/dist/jars/iceberg-spark-runtime-3.5_2.12-1.10.0.jar,$root/.local/dist/jars/sqlite-jdbc-3.51.1.0.jar"
export PYTHONPATH="$root/emr" TZ=UTC PYSPARK_PYTHON="$root/.local/venv/bin/python" PYSPARK_DRIVER_PYTHON="$root/.local/venv/bin/python"
exec "$root/.local/venv/bin/spark-submit" --master 'local[*]' --jars "$jars" --conf spark.ui.enabled=false --conf spark.ui.showConsoleProgress=false \
  --conf spark.driver.extraJavaOptions=-Dlog4j2.level=error \
  "$root/emr/jobs/query.py" --sql "$sql" \
  --catalog-impl jdbc --warehouse "$lake/warehouse" --jdbc-uri "jdbc:sqlite:$lake/catalog.db" --master 'local[*]' 2> >(grep -v -E '^(WARN|[0-9/]+ [0-9:]+ (WARN|INFO))' >&2)
