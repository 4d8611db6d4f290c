"""lake-quality: checks over the tables for a window; every result is a row of dq_results.

Each check returns (observed, threshold, passed, detail). Thresholds are arguments so a
symbol that legitimately trades sparsely can be given a lower coverage bar without code changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lake import tables
from lake.window import Window, iso


@dataclass(frozen=True)
class CheckResult:
    check_name: str
    table_name: str
    passed: bool
    observed: float
    threshold: float
    detail: str


@dataclass(frozen=True)
class Thresholds:
    freshness_minutes: float = 5.0
    min_coverage: float = 0.95
    price_tolerance: float = 0.01


def _between(frame: DataFrame, column: str, window: Window) -> DataFrame:
    return frame.where((F.col(column) >= F.lit(window.start)) & (F.col(column) < F.lit(window.end)))


def duplicate_keys(frame: DataFrame, keys: list[str]) -> int:
    """Rows beyond the first per key (0 when every key is unique)."""
    return frame.groupBy(*keys).count().where(F.col("count") > 1).agg(
        F.coalesce(F.sum(F.col("count") - 1), F.lit(0)).alias("extra")
    ).first()["extra"]


def ohlc_violations(bars: DataFrame) -> DataFrame:
    """Bars where low <= open, close <= high, low <= high or volume >= 0 does not hold."""
    ok = (
        (F.col("low") <= F.col("open")) & (F.col("open") <= F.col("high"))
        & (F.col("low") <= F.col("close")) & (F.col("close") <= F.col("high"))
        & (F.col("low") <= F.col("high")) & (F.col("volume") >= 0)
    )
    return bars.where(~F.coalesce(ok, F.lit(False)))


def minute_coverage(bars: DataFrame, window: Window, first_seen: DataFrame | None = None) -> DataFrame:
    """Per symbol: distinct minutes with a bar in the window / minutes it should have.

    The span is the whole window, from its start (or the symbol's first bar ever, `first_seen`:
    symbol, first_start, when that is later: no bar can predate the polling of a symbol) to its
    end. A missing tail or a missing hour is a gap like a hole in the middle: the scheduled
    refresh gives quality a window that ends at the settled minute, so the end is owed. A symbol
    first seen before the window end with no bar in it has coverage 0.
    """
    counts = bars.groupBy("symbol").agg(F.countDistinct("start").alias("minutes"))
    window_start = F.lit(window.start).cast(T.TimestampType())
    window_end = F.lit(window.end).cast(T.TimestampType())
    if first_seen is None:
        per_symbol = counts.withColumn("first_start", window_start)
    else:
        known = first_seen.select("symbol", "first_start").where(F.col("first_start") < window_end)
        per_symbol = known.join(counts, on="symbol", how="full")
    span_start = F.greatest(window_start, F.coalesce(F.col("first_start"), window_start))
    span_minutes = (F.unix_timestamp(window_end) - F.unix_timestamp(span_start)) / 60.0
    return per_symbol.select("symbol", (F.coalesce(F.col("minutes"), F.lit(0)) / span_minutes).alias("coverage"))


def trades_outside_bar(trades: DataFrame, bars: DataFrame, tolerance: float) -> DataFrame:
    """Trades whose price lies outside [low x (1 - tol), high x (1 + tol)] of their minute's bar.
    Trades without a bar are not judged here (minute coverage reports the missing bars)."""
    minute = trades.select(
        F.col("event_id"), F.col("symbol"), F.col("price"),
        F.date_trunc("minute", F.col("executed_at")).alias("start"),
    )
    low_bound = F.col("b.low") * F.lit(1 - tolerance).cast(T.DecimalType(10, 6))
    high_bound = F.col("b.high") * F.lit(1 + tolerance).cast(T.DecimalType(10, 6))
    joined = minute.alias("t").join(
        bars.select("symbol", "start", "low", "high").alias("b"),
        on=[F.col("t.symbol") == F.col("b.symbol"), F.col("t.start") == F.col("b.start")],
        how="inner",
    )
    return joined.where((F.col("t.price") < low_bound) | (F.col("t.price") > high_bound)).select(
        F.col("t.event_id").alias("event_id"), F.col("t.price").alias("price"),
        F.col("b.low").alias("low"), F.col("b.high").alias("high"),
    )


def run_checks(spark: SparkSession, window: Window, thresholds: Thresholds) -> list[CheckResult]:
    bars_all = spark.table(tables.qualified("bars_1m"))
    bars = _between(bars_all, "start", window).persist()
    trades = _between(spark.table(tables.qualified("trades")), "executed_at", window).persist()
    results: list[CheckResult] = []

    newest = bars.agg(F.max("start").alias("newest")).first()["newest"]
    if newest is None:
        results.append(CheckResult("freshness", "bars_1m", False, -1.0, thresholds.freshness_minutes, f"no bars in {window}"))
    else:
        lag = bars.agg(
            ((F.unix_timestamp(F.lit(window.end)) - F.unix_timestamp(F.max("start"))) / 60.0).alias("lag")
        ).first()["lag"]
        results.append(
            CheckResult("freshness", "bars_1m", lag <= thresholds.freshness_minutes, float(lag), thresholds.freshness_minutes,
                        "minutes between the window end and its newest bar start")
        )

    for table in ("bars_1m", "trades", "assets", "bars_1h", "trade_volume_1h"):
        frame = spark.table(tables.qualified(table))
        time_column = tables.TIME_COLUMNS[table]
        if time_column is not None:
            frame = frame.where(
                (F.col(time_column) >= F.date_trunc("day", F.lit(window.start)))
                & (F.col(time_column) < F.date_trunc("day", F.lit(window.end)) + F.expr("INTERVAL 1 DAY"))
            )
        extra = duplicate_keys(frame, tables.KEYS[table])
        results.append(CheckResult("duplicate_keys", table, extra == 0, float(extra), 0.0, f"key {', '.join(tables.KEYS[table])}, days of {window}"))

    for table, frame in (("bars_1m", bars), ("bars_1h", _between(spark.table(tables.qualified("bars_1h")), "hour_start", window))):
        bad = ohlc_violations(frame)
        count = bad.count()
        sample = ", ".join(f"{r['symbol']}@{r[1]}" for r in bad.limit(5).collect())
        results.append(CheckResult("ohlc_sanity", table, count == 0, float(count), 0.0, sample or "low <= open, close <= high; volume >= 0"))

    first_seen = bars_all.groupBy("symbol").agg(F.min("start").alias("first_start"))
    coverage = minute_coverage(bars, window, first_seen).collect()
    worst = min((row["coverage"] for row in coverage), default=1.0)
    short = sorted(f"{row['symbol']}={row['coverage']:.3f}" for row in coverage if row["coverage"] < thresholds.min_coverage)
    results.append(
        CheckResult("minute_coverage", "bars_1m", worst >= thresholds.min_coverage, float(worst), thresholds.min_coverage,
                    ", ".join(short) or f"{len(coverage)} symbols")
    )

    outside = trades_outside_bar(trades, bars_all, thresholds.price_tolerance)
    count = outside.count()
    sample = ", ".join(r["event_id"] for r in outside.limit(5).collect())
    results.append(
        CheckResult("trade_price_in_bar", "trades", count == 0, float(count), thresholds.price_tolerance,
                    sample or "every trade with a bar is priced within its range")
    )
    bars.unpersist()
    trades.unpersist()
    return results


def record(spark: SparkSession, run_id: str, window: Window, results: list[CheckResult], now: datetime | None = None) -> None:
    """Appends the results to crypto_db.dq_results (one row per check)."""
    now = now or datetime.now(timezone.utc)
    schema = spark.table(tables.qualified("dq_results")).schema
    rows = [
        (run_id, now, window.start, window.end, r.check_name, r.table_name, "PASS" if r.passed else "FAIL", r.observed, r.threshold, r.detail)
        for r in results
    ]
    spark.createDataFrame(rows, schema).writeTo(tables.qualified("dq_results")).append()


class QualityFailed(RuntimeError):
    """A check failed: the job exits non-zero so the state machine's Catch notifies."""


def summary(results: list[CheckResult]) -> str:
    return "\n".join(
        f"{'PASS' if r.passed else 'FAIL'} {r.check_name:<20} {r.table_name:<16} observed={r.observed:g} threshold={r.threshold:g} {r.detail}"
        for r in results
    ) + f"\n(window checked at {iso(datetime.now(timezone.utc))})"
