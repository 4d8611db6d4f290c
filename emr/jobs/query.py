"""Runs one SQL statement against the lake catalog and prints the result as a table."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str]) -> int:
    from lake.session import add_catalog_arguments, build_session, catalog_options

    parser = argparse.ArgumentParser(prog="query")
    parser.add_argument("--sql", required=True)
    parser.add_argument("--limit", type=int, default=100)
    add_catalog_arguments(parser)
    args = parser.parse_args(argv)
    spark = build_session(catalog_options(args), "lake_query")
    spark.sparkContext.setLogLevel("ERROR")
    spark.sql(args.sql).show(args.limit, truncate=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
