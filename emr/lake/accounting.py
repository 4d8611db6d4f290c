"""Reading the lake back against what was produced, for the local accounting report
(emr/jobs/report.py)."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lake import tables


def stale_count(spark: SparkSession, table: str, newest: dict[str, int]) -> int:
    """How many of the event ids in ``newest`` (id -> newest revision produced) the table holds
    at an older revision, or without one (a row merged before revisions existed). Ids the table
    does not hold are not stale: they are lost, counted elsewhere."""
    if not newest:
        return 0
    produced = spark.createDataFrame(sorted(newest.items()), "event_id STRING, newest BIGINT")
    held = spark.table(tables.qualified(table)).select("event_id", tables.VERSIONS[table])
    version = F.col(tables.VERSIONS[table])
    return (
        produced.join(held, on="event_id", how="inner")
        .where(version.isNull() | (version < F.col("newest")))
        .select("event_id")
        .distinct()
        .count()
    )


def reconcile_topic(spark: SparkSession, table: str, ids: list[str], newest: dict[str, int], shown: int = 20) -> dict:
    """How many of ``ids`` the table holds (lost = expected - found, the first ``shown`` lost ids
    sorted), how many keys it holds more than once, and, given ``newest``, how many are stale.
    Assets keep the latest fetch per asset: an older fetch (coinapi:{asset}:{date}) is
    superseded, not lost, when the asset's row is from that date or later."""
    wanted = spark.createDataFrame([(i,) for i in sorted(set(ids))], "event_id STRING")
    present = spark.table(tables.qualified(table)).select(F.col("event_id"))
    if table == "assets":
        parts = F.split(F.col("event_id"), ":")
        wanted_assets = wanted.select("event_id", parts.getItem(1).alias("asset_id"), F.to_date(parts.getItem(2)).alias("fetch_date"))
        current = spark.table(tables.qualified("assets")).select("asset_id", F.col("fetch_date").alias("current_date"))
        held = wanted_assets.join(current, on="asset_id", how="inner").where(F.col("current_date") >= F.col("fetch_date")).select("event_id")
    else:
        held = wanted.join(present.distinct(), on="event_id", how="left_semi")
    lost = wanted.join(held, on="event_id", how="left_anti")
    lost_count = lost.count()
    figures = {
        "expected": len(set(ids)),
        "found": len(set(ids)) - lost_count,
        "lost": lost_count,
        "duplicates": present.groupBy("event_id").count().where(F.col("count") > 1).count(),
        "lost_ids": [row["event_id"] for row in lost.orderBy("event_id").limit(shown).collect()],
    }
    if newest:
        figures["stale"] = stale_count(spark, table, newest)
    return figures
