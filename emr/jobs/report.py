"""Lake accounting for the local report: rows per table, and for given event ids per topic how
many are in the lake (lost = expected - found) and how many keys appear more than once.

Input: --event-ids FILE, JSON {"crypto.bars": [...], "crypto.trades": [...], "crypto.assets": [...]};
optionally --revisions FILE, JSON {"crypto.bars": {event_id: newest revision produced}}: each of
those topics also gets ``stale``, the ids whose row holds an older revision (or none).
--store-ids / --store-revisions: the same for the whole store's ids the lake is judged on, under
``store_topics``, each with ``lost_ids`` (the first --lost-ids-shown missing ids, sorted).
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
    from lake import accounting, tables
    from lake.session import add_catalog_arguments, build_session, catalog_options

    parser = argparse.ArgumentParser(prog="report")
    parser.add_argument("--event-ids", required=True)
    parser.add_argument("--revisions")
    parser.add_argument("--store-ids", help="the whole store's due ids per topic: also `store_topics`, with lost ids listed")
    parser.add_argument("--store-revisions")
    parser.add_argument("--lost-ids-shown", type=int, default=20)
    add_catalog_arguments(parser)
    args = parser.parse_args(argv)
    expected = _read_json(args.event_ids)
    newest = _read_json(args.revisions) if args.revisions else {}
    spark = build_session(catalog_options(args), "lake_report")
    tables.ensure_tables(spark)
    out: dict[str, object] = {"tables": {}, "topics": {}}
    for table in tables.TABLES:
        out["tables"][table] = {"rows": spark.table(tables.qualified(table)).count()}
    for topic, ids in expected.items():
        figures = accounting.reconcile_topic(spark, TOPIC_TABLES[topic][0], ids, newest.get(topic) or {})
        figures.pop("lost_ids")
        out["topics"][topic] = figures
    if args.store_ids:
        store_newest = _read_json(args.store_revisions) if args.store_revisions else {}
        out["store_topics"] = {
            topic: accounting.reconcile_topic(spark, TOPIC_TABLES[topic][0], ids, store_newest.get(topic) or {}, shown=args.lost_ids_shown)
            for topic, ids in _read_json(args.store_ids).items()
        }
    print("LAKE_REPORT=" + json.dumps(out, sort_keys=True))
    return 0


def _read_json(path: str):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
