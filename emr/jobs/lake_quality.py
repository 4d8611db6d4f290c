"""lake-quality: data quality checks for a window; results appended to crypto_db.dq_results;
exits non-zero when any check fails."""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str]) -> argparse.Namespace:
    from lake.session import add_catalog_arguments

    parser = argparse.ArgumentParser(prog="lake_quality")
    parser.add_argument("--window-start", required=True)
    parser.add_argument("--window-end", required=True)
    parser.add_argument("--run-id", required=True, help="ties the rows to the run (the EMR client token)")
    parser.add_argument("--freshness-minutes", type=float, default=5.0)
    parser.add_argument("--min-coverage", type=float, default=0.95)
    parser.add_argument("--price-tolerance", type=float, default=0.01)
    add_catalog_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    from lake import quality, tables
    from lake.session import build_session, catalog_options
    from lake.window import Window

    args = parse_args(argv)
    window = Window.parse(args.window_start, args.window_end)
    spark = build_session(catalog_options(args), f"lake_quality {window}")
    tables.ensure_tables(spark)
    thresholds = quality.Thresholds(args.freshness_minutes, args.min_coverage, args.price_tolerance)
    results = quality.run_checks(spark, window, thresholds)
    quality.record(spark, args.run_id, window, results)
    print(quality.summary(results))
    failed = [r for r in results if not r.passed]
    if failed:
        raise quality.QualityFailed(
            f"{len(failed)} data quality check(s) failed for {window}: "
            + ", ".join(f"{r.check_name}({r.table_name})" for r in failed)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
