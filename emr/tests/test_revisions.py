"""Bar revisions through lake-refresh on Spark + Iceberg: the newest revision of a bar is the row,
an older one never overwrites it, a newer one updates it and recomputes its hour; a bars_1m
created before revisions gains the column in place. Expected figures by hand."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import raw_fixtures as rf
from conftest import CONTRACTS, PII_KEY

from lake import accounting, tables
from lake.contract import ContractValidator
from lake.refresh import refresh
from lake.window import Window

D = Decimal
HOUR_10 = Window.parse("2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z")
R1 = rf.FIRST_REVISION
R2 = R1 + 30_000
R3 = R1 + 95_000


def minute_00(revision: int, **values) -> dict:
    return rf.bar("BTC/USD", "2026-11-30T10:00:00Z", revision=revision, **values)


REV1 = minute_00(R1, open_="100", high="101", low="99", close="100.5", volume="1", vwap="100", trade_count=2)
REV2 = minute_00(R2, open_="100", high="103", low="99", close="102", volume="3", vwap="101", trade_count=5)
REV3 = minute_00(R3, open_="100", high="105", low="98", close="104", volume="4", vwap="103.75", trade_count=7)
MINUTE_01 = rf.bar("BTC/USD", "2026-11-30T10:01:00Z", open_="102", high="104", low="101", close="103", volume="2", vwap="103", trade_count=4)


def bars_1m(spark) -> list[tuple]:
    rows = spark.table("crypto_db.bars_1m").orderBy("start").collect()
    return [(r["start"].minute, r["revision"], r["high"], r["low"], r["close"], r["volume"], r["vwap"], r["trade_count"]) for r in rows]


def bars_1h(spark) -> list[tuple]:
    rows = spark.table("crypto_db.bars_1h").collect()
    return [(r["hour_start"], r["open"], r["high"], r["low"], r["close"], r["volume"], r["trade_count"], r["vwap"], r["minutes"]) for r in rows]


def snapshots(spark, table: str) -> int:
    return spark.sql(f"SELECT COUNT(*) FROM crypto_db.{table}.snapshots").first()[0]


def test_the_newest_revision_wins_and_an_older_one_never_overwrites_it(empty_lake, tmp_path, lake_dir, capsys):
    spark = empty_lake
    validator = ContractValidator.from_directory(str(CONTRACTS))

    # Revision 2 first, then revision 1 re-emitted after it (a later record): the revision decides.
    first_raw = tmp_path / "first"
    rf.write_lines(first_raw, [
        rf.line("crypto.bars", 0, 3, REV2, timestamp="2026-11-30T10:01:40.000Z"),
        rf.line("crypto.bars", 0, 4, REV1, timestamp="2026-11-30T10:02:10.000Z"),
        rf.line("crypto.bars", 0, 5, MINUTE_01),
    ])
    first = refresh(spark, str(first_raw), HOUR_10, validator, PII_KEY)
    assert first.changed["bars_1m"] == 2
    assert bars_1m(spark) == [
        (0, R2, D(103), D(99), D(102), D(3), D(101), 5),
        (1, R1, D(104), D(101), D(103), D(2), D(103), 4),
    ]
    # open 100 (10:00), high 104, low 99, close 103 (10:01), volume 3 + 2, trades 5 + 4,
    # vwap (101 * 3 + 103 * 2) / 5 = 101.8
    assert bars_1h(spark) == [(datetime(2026, 11, 30, 10), D(100), D(104), D(99), D(103), D(5), 9, D("101.8"), 2)]

    # A later refresh whose raw holds only revision 1 again (redelivered): nothing changes, nothing is committed.
    before = (bars_1m(spark), bars_1h(spark), snapshots(spark, "bars_1m"), snapshots(spark, "bars_1h"))
    redelivered_raw = tmp_path / "redelivered"
    rf.write_lines(redelivered_raw, [rf.line("crypto.bars", 0, 4, REV1, timestamp="2026-11-30T10:02:10.000Z")])
    redelivered = refresh(spark, str(redelivered_raw), HOUR_10, validator, PII_KEY)
    assert redelivered.changed["bars_1m"] == 0 and redelivered.changed["bars_1h"] == 0
    assert (bars_1m(spark), bars_1h(spark), snapshots(spark, "bars_1m"), snapshots(spark, "bars_1h")) == before

    # Revision 3 updates the row in place and its hour is recomputed from the whole hour.
    newer_raw = tmp_path / "newer"
    rf.write_lines(newer_raw, [rf.line("crypto.bars", 0, 9, REV3, timestamp="2026-11-30T10:03:05.000Z")])
    newer = refresh(spark, str(newer_raw), HOUR_10, validator, PII_KEY)
    assert newer.changed["bars_1m"] == 1 and newer.changed["bars_1h"] == 1
    assert bars_1m(spark) == [
        (0, R3, D(105), D(98), D(104), D(4), D("103.75"), 7),
        (1, R1, D(104), D(101), D(103), D(2), D(103), 4),
    ]
    # high 105, low 98, volume 4 + 2, trades 7 + 4, vwap (103.75 * 4 + 103 * 2) / 6 = 621 / 6 = 103.5
    assert bars_1h(spark) == [(datetime(2026, 11, 30, 10), D(100), D(105), D(98), D(103), D(6), 11, D("103.5"), 2)]

    # The report's reading: the newest revision produced is held; a newer one produced but not
    # merged would leave the row stale; an id the lake does not hold is lost, not stale.
    ids = {"first": REV1["event_id"], "second": MINUTE_01["event_id"]}
    assert accounting.stale_count(spark, "bars_1m", {ids["first"]: R3, ids["second"]: R1}) == 0
    assert accounting.stale_count(spark, "bars_1m", {ids["first"]: R3 + 1, ids["second"]: R1}) == 1
    assert accounting.stale_count(spark, "bars_1m", {"alpaca:ETH/USD:2026-11-30T10:00:00Z": R1}) == 0

    # The same through the report job make run calls (emr/jobs/report.py).
    from jobs_path import report_main

    (tmp_path / "ids.json").write_text(json.dumps({"crypto.bars": list(ids.values())}))
    (tmp_path / "revisions.json").write_text(json.dumps({"crypto.bars": {ids["first"]: R3 + 1, ids["second"]: R1}}))
    capsys.readouterr()
    assert report_main([
        "--event-ids", str(tmp_path / "ids.json"), "--revisions", str(tmp_path / "revisions.json"),
        "--catalog-impl", "jdbc", "--warehouse", str(lake_dir / "warehouse"), "--jdbc-uri", f"jdbc:sqlite:{lake_dir / 'catalog.db'}",
    ]) == 0
    line = next(text for text in capsys.readouterr().out.splitlines() if text.startswith("LAKE_REPORT="))
    report = json.loads(line.removeprefix("LAKE_REPORT="))
    assert report["topics"]["crypto.bars"] == {"expected": 2, "found": 2, "lost": 0, "duplicates": 0, "stale": 1}


def test_a_bars_1m_created_before_revisions_gains_the_column_and_takes_revisions(empty_lake, tmp_path):
    spark = empty_lake
    # bars_1m as the first lake release created it, with one row merged then.
    spark.sql(
        """CREATE TABLE crypto_db.bars_1m (
            symbol STRING NOT NULL, start TIMESTAMP NOT NULL,
            open DECIMAL(38,18), high DECIMAL(38,18), low DECIMAL(38,18), close DECIMAL(38,18),
            volume DECIMAL(38,18), trade_count BIGINT, vwap DECIMAL(38,18),
            event_id STRING, source STRING, ingested_at TIMESTAMP, schema_version INT
        ) USING iceberg PARTITIONED BY (days(start)) TBLPROPERTIES ('format-version'='2')"""
    )
    spark.sql(
        """INSERT INTO crypto_db.bars_1m VALUES ('BTC/USD', TIMESTAMP '2026-11-30 10:00:00', 100, 101, 99, 100.5, 1, 2, 100,
            'alpaca:BTC/USD:2026-11-30T10:00:00Z', 'alpaca', TIMESTAMP '2026-11-30 10:01:05', 1)"""
    )
    data_files = spark.sql("SELECT COUNT(*) FROM crypto_db.bars_1m.files").first()[0]

    tables.ensure_tables(spark)
    tables.ensure_tables(spark)  # a second start finds the column and adds nothing
    assert spark.table("crypto_db.bars_1m").columns[-1] == "revision"
    assert [r["revision"] for r in spark.table("crypto_db.bars_1m").collect()] == [None]
    assert accounting.stale_count(spark, "bars_1m", {REV2["event_id"]: R2}) == 1
    # schema evolution, not a rebuild: the old data file is still the table's only one
    assert spark.sql("SELECT COUNT(*) FROM crypto_db.bars_1m.files").first()[0] == data_files

    raw = tmp_path / "raw"
    rf.write_lines(raw, [rf.line("crypto.bars", 0, 1, REV2)])
    result = refresh(spark, str(raw), HOUR_10, ContractValidator.from_directory(str(CONTRACTS)), PII_KEY)
    assert result.changed["bars_1m"] == 1
    assert bars_1m(spark) == [(0, R2, D(103), D(99), D(102), D(3), D(101), 5)]
