"""The lake side of the store reconciliation (emr/lake/accounting.py reconcile_topic, and
emr/jobs/report.py --store-ids): which due ids the lake lacks, listed sorted and capped, beside
the run's figures. Expected figures by hand."""

from __future__ import annotations

import json

import raw_fixtures as rf
from conftest import CONTRACTS, PII_KEY

from lake import accounting
from lake.contract import ContractValidator
from lake.refresh import refresh
from lake.window import Window

HOUR_10 = Window.parse("2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z")
R1 = rf.FIRST_REVISION
MINUTE = [rf.bar("BTC/USD", f"2026-11-30T10:0{m}:00Z", revision=R1) for m in range(4)]


def test_the_store_lists_the_due_ids_the_lake_lacks(empty_lake, tmp_path, lake_dir, capsys):
    spark = empty_lake
    validator = ContractValidator.from_directory(str(CONTRACTS))
    # Minutes 0 and 1 merged; minutes 2 and 3 landed after the crash and never merged.
    raw = tmp_path / "raw"
    rf.write_lines(raw, [rf.line("crypto.bars", 0, i, bar) for i, bar in enumerate(MINUTE[:2])])
    refresh(spark, str(raw), HOUR_10, validator, PII_KEY)
    ids = [bar["event_id"] for bar in MINUTE]

    figures = accounting.reconcile_topic(spark, "bars_1m", list(reversed(ids)), {ids[0]: R1 + 1}, shown=1)
    assert figures == {"expected": 4, "found": 2, "lost": 2, "duplicates": 0, "lost_ids": [ids[2]], "stale": 1}

    from jobs_path import report_main

    (tmp_path / "run.json").write_text(json.dumps({"crypto.bars": ids[:2]}))
    (tmp_path / "store.json").write_text(json.dumps({"crypto.bars": ids}))
    capsys.readouterr()
    assert report_main([
        "--event-ids", str(tmp_path / "run.json"), "--store-ids", str(tmp_path / "store.json"),
        "--catalog-impl", "jdbc", "--warehouse", str(lake_dir / "warehouse"), "--jdbc-uri", f"jdbc:sqlite:{lake_dir / 'catalog.db'}",
    ]) == 0
    line = next(text for text in capsys.readouterr().out.splitlines() if text.startswith("LAKE_REPORT="))
    report = json.loads(line.removeprefix("LAKE_REPORT="))
    assert report["topics"]["crypto.bars"] == {"expected": 2, "found": 2, "lost": 0, "duplicates": 0}
    assert report["store_topics"]["crypto.bars"] == {
        "expected": 4, "found": 2, "lost": 2, "duplicates": 0, "lost_ids": [ids[2], ids[3]],
    }
