"""lake-maintenance: compaction and cleanup of every crypto_db table (see lake.maintenance)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta


def parse_args(argv: list[str]) -> argparse.Namespace:
    from lake.session import add_catalog_arguments

    parser = argparse.ArgumentParser(prog="lake_maintenance")
    parser.add_argument("--target-file-size-bytes", type=int, default=128 * 1024 * 1024)
    parser.add_argument("--snapshot-retention-hours", type=float, default=72)
    parser.add_argument("--retain-last", type=int, default=10)
    parser.add_argument("--orphan-age-hours", type=float, default=72)
    add_catalog_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    from lake.maintenance import MaintenanceOptions, maintain
    from lake.session import build_session, catalog_options

    args = parse_args(argv)
    options = MaintenanceOptions(
        target_file_size_bytes=args.target_file_size_bytes,
        snapshot_retention=timedelta(hours=args.snapshot_retention_hours),
        retain_last=args.retain_last,
        orphan_age=timedelta(hours=args.orphan_age_hours),
    )
    options.validate()
    spark = build_session(catalog_options(args), "lake_maintenance")
    print(json.dumps({"lake_maintenance": maintain(spark, options)}, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
