"""Minute coverage judges the whole window quality is given (expected figures by hand)."""

from datetime import datetime, timedelta

from pyspark.sql import functions as F

from lake import quality
from lake.window import Window


def minutes(start: datetime, count: int) -> list[datetime]:
    return [start + timedelta(minutes=i) for i in range(count)]


def test_a_missing_tail_or_hour_counts_against_the_whole_window(spark):
    ten = datetime(2026, 11, 30, 10, 0)
    rows = (
        [("BTC/USD", t) for t in minutes(ten, 50)]  # 10:00-10:49, the last 10 minutes missing
        + [("ETH/USD", t) for t in minutes(ten, 60)]  # complete
        + [("SOL/USD", t) for t in minutes(ten + timedelta(minutes=30), 30)]  # first polled at 10:30
        + [("DOGE/USD", datetime(2026, 11, 30, 9, 0))]  # known since 09:00, nothing in this window
        + [("XRP/USD", datetime(2026, 11, 30, 11, 30))]  # first seen after the window
    )
    bars_all = spark.createDataFrame(rows, "symbol string, start timestamp")
    window = Window.parse("2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z")
    in_window = bars_all.where((F.col("start") >= F.lit(window.start)) & (F.col("start") < F.lit(window.end)))
    first_seen = bars_all.groupBy("symbol").agg(F.min("start").alias("first_start"))
    coverage = {r["symbol"]: round(r["coverage"], 4) for r in quality.minute_coverage(in_window, window, first_seen).collect()}
    # BTC 50/60, ETH 60/60, SOL 30 of the 30 minutes since 10:30, DOGE 0/60; XRP is not judged.
    assert coverage == {"BTC/USD": 0.8333, "ETH/USD": 1.0, "SOL/USD": 1.0, "DOGE/USD": 0.0}


def test_a_window_ending_after_the_newest_bar_is_not_forgiven(spark):
    bars = spark.createDataFrame(
        [("BTC/USD", t) for t in minutes(datetime(2026, 11, 30, 10, 0), 4)], "symbol string, start timestamp"
    )
    # 10:00-10:03 present; the window ends at 10:05: 4 of 5 minutes.
    window = Window.parse("2026-11-30T10:00:00Z", "2026-11-30T10:05:00Z")
    assert [round(r["coverage"], 4) for r in quality.minute_coverage(bars, window).collect()] == [0.8]
