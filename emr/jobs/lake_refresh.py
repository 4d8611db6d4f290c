"""lake-refresh: MERGE a window of the raw zone into the lake database (crypto_db), recompute the gold hours.

    spark-submit emr/jobs/lake_refresh.py --raw-root <s3://bucket | dir> \
      --window-start 2026-11-30T10:00:00Z --window-end 2026-11-30T11:00:00Z \
      --contracts <dir | s3://prefix> [--pii-key-file F] [catalog args]

Everything but the window defaults to the environment: LAKE_RAW_ROOT, LAKE_CONTRACTS,
LAKE_CATALOG_IMPL / LAKE_WAREHOUSE / LAKE_JDBC_URI / LAKE_DATABASE, and PII_KEY_FILE or PII_HMAC_KEY for the key
(set by the EMR application on AWS, by local/lake/emr.ts locally): the state machine passes only the
unit of work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def parse_args(argv: list[str]) -> argparse.Namespace:
    from lake.session import add_catalog_arguments

    parser = argparse.ArgumentParser(prog="lake_refresh")
    parser.add_argument("--raw-root", default=os.environ.get("LAKE_RAW_ROOT"))
    parser.add_argument("--window-start", required=True)
    parser.add_argument("--window-end", required=True)
    parser.add_argument("--contracts", default=os.environ.get("LAKE_CONTRACTS"))
    # The key's source is environment, not unit of work: EMR resolves PII_HMAC_KEY from Secrets
    # Manager into the driver environment (resources/lake.yml), local runs set PII_KEY_FILE.
    parser.add_argument("--pii-key-file", default=os.environ.get("PII_KEY_FILE"))
    add_catalog_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    from lake import tables
    from lake.io import read_contracts, read_pii_key
    from lake.maintenance import ensure_commit_retries
    from lake.refresh import refresh
    from lake.session import build_session, catalog_options
    from lake.window import Window

    args = parse_args(argv)
    if not args.raw_root or not args.contracts:
        raise SystemExit("--raw-root and --contracts (or LAKE_RAW_ROOT, LAKE_CONTRACTS) are required")
    window = Window.parse(args.window_start, args.window_end)
    pii_key = read_pii_key(args.pii_key_file)
    spark = build_session(catalog_options(args), f"lake_refresh {window}")
    validator = read_contracts(spark, args.contracts)
    # Commits that meet a concurrent maintenance (or another refresh) retry with room to spare.
    tables.ensure_tables(spark)
    for table in tables.TABLES:
        ensure_commit_retries(spark, table)
    # Spark defines crypto_db.trader_view where the catalog stores views (local JDBC catalog);
    # on AWS the view is Athena's (resources/lake.yml).
    result = refresh(spark, args.raw_root, window, validator, pii_key, define_view=args.catalog_impl == "jdbc")
    print(json.dumps({"lake_refresh": result.__dict__}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
