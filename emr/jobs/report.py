"""Lake accounting for the local report: rows per table, and for given event ids per topic how
many are in the lake (lost = expected - found) and how many keys appear more than once.

Input: --event-ids FILE, JSON {"crypto.bars": [...], "crypto.trades": [...], "crypto.assets": [...]};
optionally --revisions FILE, JSON {"crypto.bars": {event_id: newest revision produced}}: each of
those topics also gets ``stale``, the ids whose row holds an older revision (or none).
Output: one JSON line on stdout prefixed with LAKE_REPORT=.
"""

from __future__ import annotations

import argparse
import json
import sys

# topic -> (table, key expression that reproduces the event's identity)
TOPIC_TABLES = {
    "crypto.bars": ("bars_1m", "event_id"),
    "crypto.trades": ("trades", "event_id"),
    "crypto.assets": ("assets", "event_id"),
}


def main(argv: list[str]) -> int:
    from pyspark.sql import functions as F

    from lake import accounting, tables
    from lake.session import add_catalog_arguments, build_session, catalog_options

    parser = argparse.ArgumentParser(prog="report")
    parser.add_argument("--event-ids", required=True)
    parser.add_argument("--revisions")
    add_catalog_arguments(parser)
    args = parser.parse_args(argv)
    with open(args.event_ids, encoding="utf-8") as handle:
        expected: dict[str, list[str]] = json.load(handle)
    newest: dict[str, dict[str, int]] = {}
    if args.revisions:
        with open(args.revisions, encoding="utf-8") as handle:
            newest = json.load(handle)
    spark = build_session(catalog_options(args), "lake_report")
    tables.ensure_tables(spark)
    out: dict[str, object] = {"tables": {}, "topics": {}}
    for table in tables.TABLES:
        out["tables"][table] = {"rows": spark.table(tables.qualified(table)).count()}
    for topic, ids in expected.items():
        table, column = TOPIC_TABLES[topic]
        wanted = spark.createDataFrame([(i,) for i in sorted(set(ids))], "event_id STRING")
        present = spark.table(tables.qualified(table)).select(F.col(column).alias("event_id"))
        if topic == "crypto.assets":
            # assets keep the latest fetch per asset: an older fetch (coinapi:{asset}:{date}) is
            # superseded, not lost, when the asset's row is from that date or later.
            parts = F.split(F.col("event_id"), ":")
            wanted_assets = wanted.select("event_id", parts.getItem(1).alias("asset_id"), F.to_date(parts.getItem(2)).alias("fetch_date"))
            current = spark.table(tables.qualified("assets")).select("asset_id", F.col("fetch_date").alias("current_date"))
            found = wanted_assets.join(current, on="asset_id", how="inner").where(F.col("current_date") >= F.col("fetch_date")).count()
        else:
            found = wanted.join(present.distinct(), on="event_id", how="left_semi").count()
        duplicates = present.groupBy("event_id").count().where(F.col("count") > 1).count()
        out["topics"][topic] = {"expected": len(set(ids)), "found": found, "lost": len(set(ids)) - found, "duplicates": duplicates}
        if newest.get(topic):
            out["topics"][topic]["stale"] = accounting.stale_count(spark, table, newest[topic])
    print("LAKE_REPORT=" + json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
