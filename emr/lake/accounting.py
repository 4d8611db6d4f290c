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
