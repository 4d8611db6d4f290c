"""lake-refresh: raw objects of a window -> validated, deduplicated rows -> MERGE into the
silver tables -> gold hours recomputed -> trader view."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake import raw, tables, transforms
from lake.contract import ContractValidator
from lake.window import Window


@dataclass
class RefreshResult:
    window: str
    objects: dict[str, int] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)


def load_topic(
    spark: SparkSession, raw_root: str, topic: str, window: Window, validator: ContractValidator
) -> tuple[int, DataFrame]:
    """(objects read, lines of the window with their ``violation``), redeliveries removed."""
    paths = raw.existing_objects(spark, raw.partition_globs(raw_root, topic, window))
    lines = raw.read_lines(spark, paths)
    # A line that is not an envelope has no event time: keep it so it is quarantined, not lost.
    lines = raw.in_window(lines.where(F.col("topic").isNotNull()), window).unionByName(
        lines.where(F.col("topic").isNull())
    )
    lines = raw.dedupe_redelivered(lines)
    return len(paths), raw.with_violations(lines, validator)


def refresh(
    spark: SparkSession,
    raw_root: str,
    window: Window,
    validator: ContractValidator,
    pii_key: str,
    define_view: bool = True,
    now: datetime | None = None,
) -> RefreshResult:
    result = RefreshResult(window=str(window))
    tables.ensure_tables(spark)
    valid: dict[str, DataFrame] = {}
    for topic in raw.TOPICS:
        objects, lines = load_topic(spark, raw_root, topic, window, validator)
        lines = lines.persist()
        result.objects[topic] = objects
        result.lines[topic] = lines.count()
        result.quarantined[topic] = raw.write_quarantine(spark, raw_root, lines.where(F.col("violation").isNotNull()), now)
        valid[topic] = lines.where(F.col("violation").isNull())

    bars = transforms.to_bars(valid["crypto.bars"]).persist()
    trades = transforms.to_trades(valid["crypto.trades"], pii_key).persist()
    assets = transforms.to_assets(valid["crypto.assets"])
    result.changed["bars_1m"] = tables.merge(spark, "bars_1m", bars)
    result.changed["trades"] = tables.merge(spark, "trades", trades)
    result.changed["assets"] = tables.merge(spark, "assets", assets)

    result.changed["bars_1h"] = recompute_gold(
        spark, "bars_1h", transforms.hours_of(bars, "start"), "bars_1m", "start", transforms.bars_1h
    )
    result.changed["trade_volume_1h"] = recompute_gold(
        spark, "trade_volume_1h", transforms.hours_of(trades, "executed_at"), "trades", "executed_at", transforms.trade_volume_1h
    )
    if define_view:
        tables.define_trader_view(spark)
    return result


def recompute_gold(spark: SparkSession, gold: str, hours: DataFrame, silver: str, time_column: str, aggregate) -> int:
    """Recomputes the gold rows of the touched hours from the whole silver hour (not just the
    new rows: a late minute must change its hour's totals, not replace them)."""
    touched = [row["hour_start"] for row in hours.select(F.date_format("hour_start", "yyyy-MM-dd HH:mm:ss").alias("hour_start")).collect()]
    if not touched:
        return 0
    in_hours = F.date_trunc("hour", F.col(time_column)).isin([F.to_timestamp(F.lit(hour)) for hour in touched])
    # isin over column expressions; the silver scan is pruned by the day bounds below.
    low, high = min(touched), max(touched)
    silver_rows = spark.table(tables.qualified(silver)).where(
        (F.col(time_column) >= F.to_timestamp(F.lit(low)))
        & (F.col(time_column) < F.to_timestamp(F.lit(high)) + F.expr("INTERVAL 1 HOUR"))
    )
    return tables.merge(spark, gold, aggregate(silver_rows.where(in_hours)))
