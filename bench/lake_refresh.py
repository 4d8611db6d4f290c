"""Benchmark (not a test): lake_refresh over one simulated day on local Spark.

    .local/venv/bin/python bench/lake_refresh.py [--symbols 20] [--trades 50000] [--hours-per-run 24]

Generates the raw zone of one day (20 symbols x 1,440 minute bars, 50,000 trades, one asset
fetch per base asset) in the land-raw layout; refreshes its first hour on a cold Spark session
(the session's start included: what one scheduled hourly refresh costs), then the whole day in
windows of --hours-per-run hours, then runs maintenance; prints wall times, rows/s and data files
per partition before and after, and reports its rows for the bench table (bench/rows.ts).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "emr"))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "emr"), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("TZ", "UTC")
DAY = datetime(2026, 11, 30, tzinfo=timezone.utc)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def simulate(raw: Path, symbols: int, trades: int, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    names = [f"C{i:02d}/USD" for i in range(symbols)]
    lines: dict[tuple, list[dict]] = {}
    offsets = {"crypto.bars": 0, "crypto.trades": 0, "crypto.assets": 0}

    def add(topic: str, partition: int, event: dict, event_time: str, key: str) -> None:
        offset = offsets[topic]
        offsets[topic] += 1
        record = {
            "topic": topic, "partition": partition, "offset": offset, "timestamp": event_time.replace("Z", ".000Z"),
            "timestamp_type": "CREATE_TIME", "key": key, "headers": {}, "value": json.dumps(event, separators=(",", ":")),
            "event_id": event["event_id"], "event_time": event_time,
        }
        lines.setdefault((topic, partition, event_time[:13], offset // 1000), []).append(record)

    prices = {name: Decimal(rng.randint(1, 90000)) + Decimal("0.5") for name in names}
    ranges: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for minute in range(24 * 60):
        start = DAY + timedelta(minutes=minute)
        for name in names:
            open_ = prices[name]
            close = (open_ * Decimal(1 + rng.uniform(-0.001, 0.001))).quantize(Decimal("0.0001"))
            high = max(open_, close) * Decimal("1.0005")
            low = min(open_, close) * Decimal("0.9995")
            prices[name] = close
            high, low = high.quantize(Decimal("0.0001")), low.quantize(Decimal("0.0001"))
            ranges[(name, iso(start))] = (low, high)
            bar = {
                "schema_version": 1, "event_id": f"alpaca:{name}:{iso(start)}", "source": "alpaca", "symbol": name,
                "timeframe": "1Min", "start": iso(start), "open": str(open_), "high": str(high), "low": str(low),
                "close": str(close), "volume": f"{rng.uniform(0, 50):.6f}", "trade_count": rng.randint(0, 90),
                "vwap": str(((high + low) / 2).quantize(Decimal("0.0001"))), "ingested_at": iso(start + timedelta(seconds=65)),
            }
            add("crypto.bars", hash(name) % 3, bar, iso(start), name)
    sequence: dict[datetime, int] = {}
    for _ in range(trades):
        second = rng.randrange(24 * 3600)
        executed = DAY + timedelta(seconds=second)
        minute = executed.replace(second=0)
        name = rng.choice(names)
        low, high = ranges[(name, iso(minute))]
        price = (low + (high - low) * Decimal(rng.random())).quantize(Decimal("0.0001"))
        quantity = Decimal(rng.randint(1, 5000)) / Decimal(1000)
        sequence[minute] = sequence.get(minute, 0) + 1
        trade_id = f"{minute:%Y%m%d%H%M}-{sequence[minute]:04d}"
        user = rng.randint(1, 500)
        trade = {
            "schema_version": 1, "event_id": f"sim:{trade_id}", "source": "simulator", "trade_id": trade_id,
            "scheduled_at": iso(minute), "executed_at": iso(executed), "user_id": f"u-{user:06d}",
            "user_name": f"User {user}", "user_email": f"user{user}@example.com", "document_id": f"{user:011d}",
            "symbol": name, "side": rng.choice(["BUY", "SELL"]), "price": str(price), "quantity": str(quantity),
            "notional": str(price * quantity), "quote_at": iso(executed),
        }
        add("crypto.trades", user % 3, trade, iso(executed), trade["user_id"])
    for name in names:
        base = name.split("/")[0]
        fetched = iso(DAY + timedelta(seconds=10))
        add("crypto.assets", 0, {
            "schema_version": 1, "event_id": f"coinapi:{base}:2026-11-30", "source": "coinapi", "asset_id": base,
            "icon_url": f"https://icons.example.com/{base}.png", "icon_size": 32, "fetch_date": "2026-11-30", "fetched_at": fetched,
        }, fetched, base)
    for (topic, partition, hour, block), group in lines.items():
        day, hh = hour[:10], hour[11:13]
        path = raw / "raw" / topic / f"dt={day}" / f"hour={hh}" / f"{partition}-{block * 1000}-{block * 1000 + 999}.ndjson.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in group).encode()))
    return offsets


def report_rows(rows: list[dict]) -> None:
    """The bench/rows.ts hand-off: JSON lines appended to BENCH_ROWS_FILE, or printed alone."""
    target = os.environ.get("BENCH_ROWS_FILE")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.writelines(json.dumps(row) + "\n" for row in rows)
    else:
        for row in rows:
            print(f"{row['figure']}: {row['project']:.1f} {row['unit']} (aim {row['aim']})")


def main(argv: list[str]) -> int:
    from lake import maintenance, tables
    from lake.contract import ContractValidator
    from lake.refresh import refresh
    from lake.session import CatalogOptions, build_session
    from lake.window import Window

    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--trades", type=int, default=50_000)
    parser.add_argument("--hours-per-run", type=int, default=24)
    parser.add_argument("--dir")
    args = parser.parse_args(argv)
    work = Path(args.dir or tempfile.mkdtemp(prefix="lake-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.monotonic()
    produced = simulate(work / "raw", args.symbols, args.trades)
    print(f"simulated raw zone: {produced} records in {time.monotonic() - t0:.1f}s ({work})")
    cold_started = time.monotonic()
    jars = ",".join(str(ROOT / ".local/dist/jars" / j) for j in ("iceberg-spark-runtime-3.5_2.12-1.10.0.jar", "sqlite-jdbc-3.51.1.0.jar"))
    spark = build_session(
        CatalogOptions("jdbc", str(work / "lake/warehouse"), f"jdbc:sqlite:{work / 'lake/catalog.db'}", "local[*]", jars), "lake-bench"
    )
    spark.sparkContext.setLogLevel("ERROR")
    validator = ContractValidator.from_directory(str(ROOT / "tests/fixtures/contracts"))
    key = "bench-pii-key-0123456789abcdef0123456789"
    hour = Window(DAY, DAY + timedelta(hours=1))
    result = refresh(spark, str(work / "raw"), hour, validator, key)
    cold_hour = time.monotonic() - cold_started
    print(f"refresh {hour} on a cold session (session start included): {cold_hour:.1f}s lines={result.lines}")
    started = time.monotonic()
    for offset in range(0, 24, args.hours_per_run):
        window = Window(DAY + timedelta(hours=offset), DAY + timedelta(hours=min(24, offset + args.hours_per_run)))
        t = time.monotonic()
        result = refresh(spark, str(work / "raw"), window, validator, key)
        print(f"refresh {window}: {time.monotonic() - t:.1f}s lines={result.lines} changed={result.changed}")
    wall = time.monotonic() - started
    rows = {t: spark.table(tables.qualified(t)).count() for t in ("bars_1m", "trades", "assets", "bars_1h", "trade_volume_1h")}
    lines = sum(produced.values())
    print(f"lake_refresh wall time: {wall:.1f}s for {lines} raw records -> {lines / wall:.0f} records/s; rows {rows}")
    before = {t: maintenance.data_files_per_partition(spark, t) for t in ("bars_1m", "trades")}
    t = time.monotonic()
    maintenance.maintain(spark, maintenance.MaintenanceOptions(target_file_size_bytes=128 * 1024 * 1024))
    after = {t: maintenance.data_files_per_partition(spark, t) for t in ("bars_1m", "trades")}
    maintenance_s = time.monotonic() - t
    print(f"maintenance: {maintenance_s:.1f}s")
    for table in before:
        print(f"data files per partition {table}: before {before[table]} after {after[table]}")
    spark.stop()
    # make query on the day's lake: a Spark start per statement, against the quick read path.
    statement = "SELECT symbol, count(*) AS bars FROM crypto_db.bars_1m GROUP BY symbol ORDER BY symbol"
    query_s = {}
    outputs = {}

    def query(quick: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(ROOT / "scripts/query.sh"), statement, "bench"], capture_output=True, text=True,
            env={**os.environ, "LAKE_DIR": str(work / "lake"), "QUICK": quick},
        )

    # The quick path installs PyIceberg and DuckDB on its first use (a fresh clone): once, untimed,
    # so the figure is a statement's latency, as the Spark one is.
    query("1")
    for path, quick in (("spark", ""), ("quick", "1")):
        t = time.monotonic()
        done = query(quick)
        query_s[path] = time.monotonic() - t
        outputs[path] = done.stdout
        if done.returncode != 0:
            print(f"make query ({path}) failed: {done.stderr[-2000:]}")
            return 1
    same = all(f"{name}" in outputs["quick"] for name in (f"C{i:02d}/USD" for i in range(args.symbols)))
    print(f"make query: Spark {query_s['spark']:.1f}s, quick read path {query_s['quick']:.1f}s (every symbol in both: {same})")
    report_rows([
        {"figure": "lake refresh, 1 h on a cold Spark session", "project": cold_hour, "peer": None, "ratio": None,
         "aim": "informative (as today)", "unit": "s"},
        {"figure": "lake refresh, 1 simulated day", "project": wall, "peer": None, "ratio": None,
         "aim": "informative (65 s before)", "unit": "s"},
        {"figure": "lake maintenance after the day", "project": maintenance_s, "peer": None, "ratio": None,
         "aim": "informative", "unit": "s"},
        {"figure": "make query QUICK=1 (PyIceberg + DuckDB), one statement", "project": query_s["quick"],
         "peer": query_s["spark"], "peerLabel": "make query (Spark start per statement)",
         "ratio": query_s["quick"] / query_s["spark"], "aim": "faster for quick looks", "unit": "s",
         "met": same and query_s["quick"] < query_s["spark"]},
    ])
    if not args.dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
