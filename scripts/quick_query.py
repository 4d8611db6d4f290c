"""A quick look at the local lake without starting Spark: `make query QUICK=1 SQL="..."`.

The same Iceberg tables `make query` reads (the profile's JDBC catalog on SQLite), opened with
PyIceberg's SQL catalog, which reads that catalog's tables directly; each `crypto_db.<table>`
the statement names is scanned into Arrow and the statement runs in an in-process DuckDB over
them. Read-only, and a second or so instead of a Spark start per statement. Tables only: views
(crypto_db.trader_view) are Spark SQL and stay with `make query`. DuckDB's own Iceberg extension
is not used: it downloads at run time, and this path must work offline.

    .local/venv/bin/python scripts/quick_query.py "SELECT symbol, count(*) FROM crypto_db.bars_1m GROUP BY 1" [lake dir]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CATALOG = "glue_catalog"
DATABASE = "crypto_db"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    sql, lake = argv[0], Path(argv[1] if len(argv) > 1 else ".local/run/lake").resolve()
    if not (lake / "catalog.db").exists():
        print(f"no local lake at {lake} (run lake-refresh first)", file=sys.stderr)
        return 1
    import duckdb
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog(CATALOG, uri=f"sqlite:///{lake / 'catalog.db'}", warehouse=f"file://{lake / 'warehouse'}")
    con = duckdb.connect()
    con.execute(f"CREATE SCHEMA {DATABASE}")
    for table in sorted(set(re.findall(rf"\b{DATABASE}\.(\w+)", sql, flags=re.IGNORECASE))):
        arrow = catalog.load_table((DATABASE, table.lower())).scan().to_arrow()
        con.register(f"_arrow_{table}", arrow)
        con.execute(f"CREATE VIEW {DATABASE}.{table} AS SELECT * FROM _arrow_{table}")
    con.sql(sql).show(max_rows=100, max_width=200)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
