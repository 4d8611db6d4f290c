"""Pure transforms on small hand-written inputs; expected rows written by hand."""

from datetime import datetime
from decimal import Decimal

import raw_fixtures as rf
from conftest import PII_KEY

from pyspark.sql import functions as F

from lake import quality, transforms
from lake.window import Window

D = Decimal


def lines_df(spark, lines):
    from lake.raw import LINE_SCHEMA

    rows = [tuple(line[f.name] for f in LINE_SCHEMA.fields) for line in lines]
    return spark.createDataFrame(rows, LINE_SCHEMA)


def test_trades_are_tokenized_and_lose_their_clear_personal_data(spark):
    # Expected tokens: `printf %s VALUE | openssl dgst -sha256 -hmac KEY`, the bytes pii.ts tokenize gives.
    t = rf.trade("202611301000-0001", "2026-11-30T10:00:07Z", price="97001.25", quantity="0.002", notional="194.0025")
    t["user_name"] = "João Ñandú"
    rows = transforms.to_trades(lines_df(spark, [rf.line("crypto.trades", 0, 1, t)]), PII_KEY).collect()
    assert len(rows) == 1
    row = rows[0].asDict()
    assert row["user_name_token"] == "c30ce26790857feb8b2ad6e044389e133a416d408e912ee6719302ce2350ebc1"
    assert row["user_email_token"] == "67a49d260117a976a05cf38e352b86a65f95125ceb6903bdfd99b0e025ea2d6e"
    assert row["document_id_token"] == "129fe0ebd6ec8305c34d47ff5f87bf8fd3f1dd70ff5d15107a1110a471c86420"
    assert not {"user_name", "user_email", "document_id"} & set(row)
    assert row["price"] == D("97001.250000000000000000")
    assert row["notional"] == D("194.002500000000000000")
    assert row["executed_at"] == datetime(2026, 11, 30, 10, 0, 7)


def test_bars_keep_the_latest_record_per_minute_and_exact_decimals(spark):
    first = rf.bar("BTC/USD", "2026-11-30T10:00:00Z", close="97000.5")
    again = rf.bar("BTC/USD", "2026-11-30T10:00:00Z", close="97000.123456789012345678")
    other = rf.bar("ETH/USD", "2026-11-30T10:00:00Z", volume="12345678901234567890.123456789012345678")
    lines = [
        rf.line("crypto.bars", 0, 10, first, timestamp="2026-11-30T10:01:01.000Z"),
        rf.line("crypto.bars", 0, 11, again, timestamp="2026-11-30T10:02:01.000Z"),
        rf.line("crypto.bars", 1, 3, other),
    ]
    rows = {(r["symbol"], r["close"], r["volume"]) for r in transforms.to_bars(lines_df(spark, lines)).collect()}
    assert rows == {
        ("BTC/USD", D("97000.123456789012345678"), D("2.5")),
        ("ETH/USD", D("100.75"), D("12345678901234567890.123456789012345678")),
    }


def test_bars_keep_the_highest_revision_whatever_the_record_order(spark):
    # Revision 2 (seen 30 s after revision 1) was delivered first; revision 1 re-emitted after it.
    newer = rf.bar("BTC/USD", "2026-11-30T10:00:00Z", close="97010.25", revision=rf.FIRST_REVISION + 30_000)
    older = rf.bar("BTC/USD", "2026-11-30T10:00:00Z", close="97000.5")
    lines = [
        rf.line("crypto.bars", 0, 20, newer, timestamp="2026-11-30T10:01:35.000Z"),
        rf.line("crypto.bars", 0, 21, older, timestamp="2026-11-30T10:05:00.000Z"),
    ]
    rows = [(r["close"], r["revision"]) for r in transforms.to_bars(lines_df(spark, lines)).collect()]
    assert rows == [(D("97010.25"), 1_796_040_035_000)]


def test_a_bar_of_contract_v1_is_revision_0_and_any_revision_supersedes_it(spark):
    v1 = {k: v for k, v in rf.bar("BTC/USD", "2026-11-30T10:00:00Z", close="97000.5").items() if k != "revision"}
    v1["schema_version"] = 1
    v2 = rf.bar("BTC/USD", "2026-11-30T10:00:00Z", close="97010.25")
    alone = transforms.to_bars(lines_df(spark, [rf.line("crypto.bars", 0, 40, v1)])).collect()
    assert [(r["close"], r["revision"], r["schema_version"]) for r in alone] == [(D("97000.5"), 0, 1)]
    lines = [rf.line("crypto.bars", 0, 41, v2), rf.line("crypto.bars", 0, 42, v1, timestamp="2026-11-30T13:00:00.000Z")]
    rows = [(r["close"], r["revision"]) for r in transforms.to_bars(lines_df(spark, lines)).collect()]
    assert rows == [(D("97010.25"), 1_796_040_005_000)]


def test_redelivered_copies_collapse_but_revisions_survive(spark):
    from lake.raw import dedupe_redelivered

    first = rf.line("crypto.bars", 0, 30, rf.bar("BTC/USD", "2026-11-30T10:00:00Z"))
    revised = rf.line("crypto.bars", 0, 31, rf.bar("BTC/USD", "2026-11-30T10:00:00Z", close="101", revision=rf.FIRST_REVISION + 1))
    lines = lines_df(spark, [first, dict(first), revised])
    kept = dedupe_redelivered(lines.withColumn("line", F.col("value")))
    assert sorted(r["offset"] for r in kept.collect()) == [30, 31]


def test_assets_keep_the_latest_fetch_with_valid_from(spark):
    lines = [
        rf.line("crypto.assets", 0, 1, rf.asset("BTC", "2026-11-29", "2026-11-29T00:00:10Z", icon_size=16)),
        rf.line("crypto.assets", 0, 2, rf.asset("BTC", "2026-11-30", "2026-11-30T00:00:10Z", icon_size=32)),
        rf.line("crypto.assets", 0, 3, rf.asset("ETH", "2026-11-30", "2026-11-30T00:00:11Z")),
    ]
    rows = sorted((r["asset_id"], r["icon_size"], r["valid_from"], r["event_id"]) for r in transforms.to_assets(lines_df(spark, lines)).collect())
    assert rows == [
        ("BTC", 32, datetime(2026, 11, 30, 0, 0, 10), "coinapi:BTC:2026-11-30"),
        ("ETH", 32, datetime(2026, 11, 30, 0, 0, 11), "coinapi:ETH:2026-11-30"),
    ]


def test_bars_1h_rolls_minutes_up(spark):
    lines = [
        rf.line("crypto.bars", 0, 1, rf.bar("BTC/USD", "2026-11-30T10:00:00Z", open_="10", high="12", low="9", close="11", volume="1", vwap="10", trade_count=2)),
        rf.line("crypto.bars", 0, 2, rf.bar("BTC/USD", "2026-11-30T10:01:00Z", open_="11", high="15", low="10", close="14", volume="3", vwap="14", trade_count=5)),
        rf.line("crypto.bars", 0, 3, rf.bar("BTC/USD", "2026-11-30T11:00:00Z", open_="20", high="20", low="20", close="20", volume="0", vwap="0", trade_count=0)),
    ]
    hourly = transforms.bars_1h(transforms.to_bars(lines_df(spark, lines)))
    rows = sorted(tuple(r) for r in hourly.collect())
    assert rows == [
        # vwap = (10 x 1 + 14 x 3) / 4 = 13
        ("BTC/USD", datetime(2026, 11, 30, 10), D(10), D(15), D(9), D(14), D(4), 7, D(13), 2),
        ("BTC/USD", datetime(2026, 11, 30, 11), D(20), D(20), D(20), D(20), D(0), 0, None, 1),
    ]


def test_trade_volume_1h_splits_sides(spark):
    lines = [
        rf.line("crypto.trades", 0, 1, rf.trade("202611301000-0001", "2026-11-30T10:00:07Z", side="BUY", quantity="0.5", notional="50", user_id="u-000001")),
        rf.line("crypto.trades", 0, 2, rf.trade("202611301000-0002", "2026-11-30T10:59:59Z", side="SELL", quantity="0.25", notional="26.5", user_id="u-000001")),
        rf.line("crypto.trades", 1, 1, rf.trade("202611301000-0003", "2026-11-30T10:30:00Z", side="BUY", quantity="1", notional="101", user_id="u-000002")),
    ]
    rows = [tuple(r) for r in transforms.trade_volume_1h(transforms.to_trades(lines_df(spark, lines), PII_KEY)).collect()]
    assert rows == [("BTC/USD", datetime(2026, 11, 30, 10), 3, 2, D("1.5"), D("0.25"), D("151"), D("26.5"), D("177.5"))]


def test_quality_functions_find_bad_rows(spark):
    bars = transforms.to_bars(lines_df(spark, [
        rf.line("crypto.bars", 0, 1, rf.bar("BTC/USD", "2026-11-30T10:00:00Z", open_="10", high="12", low="9", close="11")),
        # close above high: insane
        rf.line("crypto.bars", 0, 2, rf.bar("BTC/USD", "2026-11-30T10:01:00Z", open_="10", high="12", low="9", close="13")),
        # 10:02 missing: a hole inside BTC's span
        rf.line("crypto.bars", 0, 3, rf.bar("BTC/USD", "2026-11-30T10:03:00Z")),
        rf.line("crypto.bars", 1, 1, rf.bar("ETH/USD", "2026-11-30T10:00:00Z")),
    ]))
    assert [r["start"] for r in quality.ohlc_violations(bars).collect()] == [datetime(2026, 11, 30, 10, 1)]

    def coverage(window: Window, first_seen=None) -> dict:
        return {r["symbol"]: round(r["coverage"], 4) for r in quality.minute_coverage(bars, window, first_seen).collect()}

    # Spans run to the window end: BTC holds 3 of 10 minutes, ETH 1 of 10.
    assert coverage(Window.parse("2026-11-30T10:00:00Z", "2026-11-30T10:10:00Z")) == {"BTC/USD": 0.3, "ETH/USD": 0.1}
    # A window starting before the bars counts the empty lead (3 and 1 of 12), unless the symbols were first seen later.
    early = Window.parse("2026-11-30T09:58:00Z", "2026-11-30T10:10:00Z")
    assert coverage(early) == {"BTC/USD": 0.25, "ETH/USD": 0.0833}
    first_seen = bars.groupBy("symbol").agg(F.min("start").alias("first_start"))
    assert coverage(early, first_seen) == {"BTC/USD": 0.3, "ETH/USD": 0.1}
    assert quality.duplicate_keys(bars, ["symbol", "start"]) == 0
    assert quality.duplicate_keys(bars.unionByName(bars.limit(1)), ["symbol", "start"]) == 1
    trades = transforms.to_trades(lines_df(spark, [
        rf.line("crypto.trades", 0, 1, rf.trade("202611301000-0001", "2026-11-30T10:00:07Z", price="12.12")),  # 12 x 1.01 = 12.12: inside
        rf.line("crypto.trades", 0, 2, rf.trade("202611301000-0002", "2026-11-30T10:00:08Z", price="12.13")),  # outside
        rf.line("crypto.trades", 0, 3, rf.trade("202611301000-0003", "2026-11-30T10:00:09Z", price="8.91")),  # 9 x 0.99 = 8.91: inside
        rf.line("crypto.trades", 0, 4, rf.trade("202611301000-0004", "2026-11-30T10:05:00Z", price="1")),  # no bar: not judged
    ]), PII_KEY)
    assert [r["event_id"] for r in quality.trades_outside_bar(trades, bars, 0.01).collect()] == ["sim:202611301000-0002"]
