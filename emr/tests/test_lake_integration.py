"""Spark + Iceberg end to end on the JDBC catalog: raw fixtures -> refresh -> tables.

One module-scoped scenario keeps the number of (slow) refresh runs small; each test asserts one
property and runs in file order."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
import raw_fixtures as rf
from conftest import CONTRACTS, PII_KEY

from lake import maintenance, quality, tables
from lake.contract import ContractValidator
from lake.refresh import refresh
from lake.window import Window

D = Decimal
HOUR_10 = Window.parse("2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z")
HOUR_09 = Window.parse("2026-11-30T09:00:00Z", "2026-11-30T10:00:00Z")
TABLES = ["bars_1m", "trades", "assets", "bars_1h", "trade_volume_1h"]


def hour_10_lines() -> list[dict]:
    lines = []
    for minute in range(60):
        start = f"2026-11-30T10:{minute:02d}:00Z"
        lines.append(rf.line("crypto.bars", 0, minute, rf.bar("BTC/USD", start, open_="100", high="102", low="99", close="101", volume="1", vwap="100.5")))
    for i in range(5):
        lines.append(rf.line("crypto.trades", 0, 100 + i, rf.trade(f"202611301000-{i:04d}", f"2026-11-30T10:0{i}:30Z", price="100.5")))
    lines.append(rf.line("crypto.assets", 0, 7, rf.asset("BTC", "2026-11-30", "2026-11-30T10:00:10Z")))
    # the same trade redelivered at the same coordinates (a second copy of the line)
    lines.append(dict(lines[61]))
    # not a valid bar: quarantined, never merged
    bad = rf.bar("BTC/USD", "2026-11-30T10:30:00Z")
    bad["open"] = 100.0
    lines.append(rf.line("crypto.bars", 0, 999, bad, value=json.dumps(bad)))
    return lines


def snapshot(spark) -> dict[str, list[tuple]]:
    return {t: sorted(tuple(r) for r in spark.table(f"crypto_db.{t}").collect()) for t in TABLES}


def snapshot_ids(spark) -> dict[str, int]:
    return {t: spark.sql(f"SELECT COUNT(*) FROM crypto_db.{t}.snapshots").first()[0] for t in TABLES}


@pytest.fixture(scope="module")
def scenario(spark, tmp_path_factory):
    from lake import tables as t

    spark.sql("DROP VIEW IF EXISTS crypto_db.trader_view")
    for table in t.TABLES:
        spark.sql(f"DROP TABLE IF EXISTS crypto_db.{table} PURGE")
    root = tmp_path_factory.mktemp("raw")
    rf.write_lines(root, hour_10_lines())
    validator = ContractValidator.from_directory(str(CONTRACTS))
    now = datetime(2026, 11, 30, 11, 5)
    first = refresh(spark, str(root), HOUR_10, validator, PII_KEY, now=now)
    state = {"root": root, "validator": validator, "first": first, "after_first": snapshot(spark), "snapshots_first": snapshot_ids(spark)}
    second = refresh(spark, str(root), HOUR_10, validator, PII_KEY, now=now)
    state.update(second=second, after_second=snapshot(spark), snapshots_second=snapshot_ids(spark))
    return state


def test_first_refresh_merges_the_window(scenario, spark):
    assert scenario["first"].lines == {"crypto.bars": 61, "crypto.trades": 5, "crypto.assets": 1}
    assert scenario["first"].quarantined == {"crypto.bars": 1, "crypto.trades": 0, "crypto.assets": 0}
    assert {t: len(rows) for t, rows in scenario["after_first"].items()} == {
        "bars_1m": 60, "trades": 5, "assets": 1, "bars_1h": 1, "trade_volume_1h": 1,
    }
    hour = spark.table("crypto_db.bars_1h").first()
    assert (hour["open"], hour["high"], hour["low"], hour["close"], hour["volume"], hour["minutes"]) == (D(100), D(102), D(99), D(101), D(60), 60)
    view = spark.table("crypto_db.trader_view").where("trade_id = '202611301000-0002'").first()
    assert (view["bar_start"], view["bar_high"], view["icon_url"]) == (
        datetime(2026, 11, 30, 10, 2), D(102), "https://icons.example.com/BTC.png",
    )


def test_invalid_lines_are_quarantined_with_their_reason(scenario):
    path = Path(scenario["root"]) / "quarantine/crypto.bars/dt=2026-11-30/lake-refresh-p0-o999.json"
    record = json.loads(path.read_text())
    assert record["reason"] == "schema_violation"
    assert record["stage"] == "lake-refresh"
    assert record["offset"] == "999" and record["partition"] == 0
    assert "$.open: expected string" in record["detail"]


def test_refreshing_the_same_window_again_changes_nothing(scenario):
    assert scenario["after_second"] == scenario["after_first"]
    assert scenario["second"].changed == {t: 0 for t in TABLES}
    # nothing changed, so nothing was committed: no new snapshots
    assert scenario["snapshots_second"] == scenario["snapshots_first"]


def test_late_data_for_an_older_window_merges(scenario, spark):
    root = scenario["root"]
    late = [
        rf.line("crypto.bars", 0, 2000, rf.bar("BTC/USD", "2026-11-30T09:59:00Z", open_="98", high="99", low="97", close="98.5", volume="4", vwap="98")),
        # a corrected 10:05 bar arriving later (newer record) lands in the 10:00 window
        rf.line("crypto.bars", 0, 2001, rf.bar("BTC/USD", "2026-11-30T10:05:00Z", open_="100", high="110", low="99", close="101", volume="1", vwap="100.5", revision=rf.FIRST_REVISION + 60_000), timestamp="2026-11-30T12:00:00.000Z"),
        rf.line("crypto.assets", 0, 8, rf.asset("BTC", "2026-11-29", "2026-11-29T00:00:10Z", icon_size=16)),
    ]
    late[2]["event_time"] = "2026-11-30T09:30:00Z"  # an older fetch, partitioned into hour 09 for this test
    rf.write_lines(root, late)
    older = refresh(spark, str(root), HOUR_09, scenario["validator"], PII_KEY)
    assert older.changed["bars_1m"] == 1 and older.changed["bars_1h"] == 1
    # the older asset fetch must not replace the newer one
    assert spark.table("crypto_db.assets").first()["icon_size"] == 32
    again = refresh(spark, str(root), HOUR_10, scenario["validator"], PII_KEY)
    assert again.changed["bars_1m"] == 1 and again.changed["bars_1h"] == 1
    hours = {r["hour_start"].hour: (r["high"], r["minutes"]) for r in spark.table("crypto_db.bars_1h").collect()}
    assert hours == {9: (D(99), 1), 10: (D(110), 60)}
    assert spark.table("crypto_db.bars_1m").count() == 61


def test_quality_passes_on_good_data(scenario, spark):
    results = quality.run_checks(spark, HOUR_10, quality.Thresholds(price_tolerance=0.01))
    failed = [r for r in results if not r.passed]
    assert failed == []
    quality.record(spark, "test-run-ok", HOUR_10, results)
    assert spark.sql("SELECT COUNT(*) FROM crypto_db.dq_results WHERE run_id = 'test-run-ok' AND status = 'PASS'").first()[0] == len(results)


def test_maintenance_reduces_files_and_keeps_the_data(scenario, spark):
    before_rows = snapshot(spark)
    before = maintenance.data_files_per_partition(spark, "bars_1m")
    snapshots_before = snapshot_ids(spark)["bars_1m"]
    delete_files = spark.sql("SELECT COUNT(*) FROM crypto_db.bars_1m.delete_files").first()[0]
    options = maintenance.MaintenanceOptions(
        target_file_size_bytes=8 * 1024 * 1024, snapshot_retention=__import__("datetime").timedelta(0), retain_last=1,
        orphan_age=__import__("datetime").timedelta(hours=24),
    )
    report = maintenance.maintain(spark, options)
    after = maintenance.data_files_per_partition(spark, "bars_1m")
    assert sum(before.values()) > sum(after.values())
    assert set(after.values()) == {1}
    assert delete_files >= 1
    assert spark.sql("SELECT COUNT(*) FROM crypto_db.bars_1m.delete_files").first()[0] == 0
    assert report["bars_1m"]["rewritten_data_files"] >= 2
    assert snapshot(spark) == before_rows
    # snapshots older than the run are expired; the ones maintenance itself committed remain
    assert snapshot_ids(spark)["bars_1m"] < snapshots_before
    # commits that meet a concurrent refresh retry with room (set once, then left alone)
    properties = {r["key"]: r["value"] for r in spark.sql("SHOW TBLPROPERTIES crypto_db.bars_1m").collect()}
    assert properties["commit.retry.num-retries"] == "10"
    assert properties["commit.retry.min-wait-ms"] == "1000"
    assert maintenance.ensure_commit_retries(spark, "bars_1m") is False


def test_short_orphan_retention_is_refused_by_default():
    from datetime import timedelta

    with pytest.raises(ValueError, match="in-flight writes"):
        maintenance.MaintenanceOptions(orphan_age=timedelta(hours=1)).validate()


def test_a_failing_quality_check_fails_the_job(scenario, spark, lake_dir):
    from jobs_path import quality_main

    # a later revision of the 10:10 bar, with high below low
    insane = rf.bar("BTC/USD", "2026-11-30T10:10:00Z", open_="100", high="90", low="99", close="101", revision=rf.FIRST_REVISION + 120_000)
    rf.write_lines(scenario["root"], [rf.line("crypto.bars", 0, 3000, insane, timestamp="2026-11-30T13:00:00.000Z")])
    refresh(spark, str(scenario["root"]), HOUR_10, scenario["validator"], PII_KEY)
    args = [
        "--window-start", "2026-11-30T10:00:00Z", "--window-end", "2026-11-30T11:00:00Z", "--run-id", "test-run-bad",
        "--catalog-impl", "jdbc", "--warehouse", str(lake_dir / "warehouse"), "--jdbc-uri", f"jdbc:sqlite:{lake_dir / 'catalog.db'}",
    ]
    with pytest.raises(quality.QualityFailed, match=r"ohlc_sanity\(bars_1m\)"):
        quality_main(args)
    failed = spark.sql(
        "SELECT check_name, table_name FROM crypto_db.dq_results WHERE run_id = 'test-run-bad' AND status = 'FAIL' ORDER BY 1, 2"
    ).collect()
    # the hour stays sane: its high is the max over all minutes
    assert [tuple(r) for r in failed] == [("ohlc_sanity", "bars_1m")]
