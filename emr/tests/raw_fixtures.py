"""Hand-built raw-zone objects (the layout of functions/shared/raw-zone.ts) for the tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


# Bar contract v2: a bar's first revision, seen at its ingested_at (2026-11-30T12:00:05Z) in epoch ms.
FIRST_REVISION = 1_796_040_005_000


def bar(symbol: str, start: str, open_="100.5", high="101", low="100", close="100.75", volume="2.5", vwap="100.6", trade_count=3, revision=FIRST_REVISION) -> dict:
    return {
        "schema_version": 2, "revision": revision, "event_id": f"alpaca:{symbol}:{start}", "source": "alpaca", "symbol": symbol,
        "timeframe": "1Min", "start": start, "open": open_, "high": high, "low": low, "close": close,
        "volume": volume, "trade_count": trade_count, "vwap": vwap, "ingested_at": "2026-11-30T12:00:05Z",
    }


def trade(trade_id: str, executed_at: str, symbol="BTC/USD", side="BUY", price="100.5", quantity="0.002", notional="0.201", user_id="u-000042") -> dict:
    return {
        "schema_version": 1, "event_id": f"sim:{trade_id}", "source": "simulator", "trade_id": trade_id,
        "scheduled_at": executed_at[:17] + "00Z", "executed_at": executed_at, "user_id": user_id,
        "user_name": "Maria Souza", "user_email": "maria.souza@example.com.br", "document_id": "52998224725",
        "symbol": symbol, "side": side, "price": price, "quantity": quantity, "notional": notional,
        "quote_at": executed_at,
    }


def asset(asset_id: str, fetch_date: str, fetched_at: str, icon_size=32) -> dict:
    return {
        "schema_version": 1, "event_id": f"coinapi:{asset_id}:{fetch_date}", "source": "coinapi", "asset_id": asset_id,
        "icon_url": f"https://icons.example.com/{asset_id}.png", "icon_size": icon_size,
        "fetch_date": fetch_date, "fetched_at": fetched_at,
    }


EVENT_TIME = {"crypto.bars": "start", "crypto.trades": "executed_at", "crypto.assets": "fetched_at"}
KEY = {"crypto.bars": "symbol", "crypto.trades": "user_id", "crypto.assets": "asset_id"}


def line(topic: str, partition: int, offset: int, event: dict | None, value: str | None = None, timestamp: str | None = None) -> dict:
    """A raw line for ``event`` (or for a raw ``value`` text, for invalid records)."""
    text = value if value is not None else json.dumps(event, separators=(",", ":"))
    event_time = event[EVENT_TIME[topic]] if event else "2026-11-30T12:00:00Z"
    return {
        "topic": topic, "partition": partition, "offset": offset,
        "timestamp": timestamp or event_time.replace("Z", ".000Z"), "timestamp_type": "CREATE_TIME",
        "key": event.get(KEY[topic]) if event else None, "headers": {}, "value": text,
        "event_id": event["event_id"] if event else "unknown", "event_time": event_time,
    }


def write_object(root: Path, lines: list[dict]) -> Path:
    """Writes lines of ONE topic/partition/hour into their block object (merging by offset)."""
    first = lines[0]
    day, hour = first["event_time"][:10], first["event_time"][11:13]
    block = first["offset"] // 1000 * 1000
    path = root / "raw" / first["topic"] / f"dt={day}" / f"hour={hour}" / f"{first['partition']}-{block}-{block + 999}.ndjson.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = {}
    if path.exists():
        for text in gzip.decompress(path.read_bytes()).decode().splitlines():
            record = json.loads(text)
            existing[record["offset"]] = record
    for record in lines:
        existing[record["offset"]] = record
    body = "".join(json.dumps(existing[o], separators=(",", ":")) + "\n" for o in sorted(existing))
    path.write_bytes(gzip.compress(body.encode()))
    return path


def write_lines(root: Path, lines: list[dict]) -> None:
    """Groups lines by their object (topic, partition, hour, block) and writes each."""
    groups: dict[tuple, list[dict]] = {}
    for record in lines:
        key = (record["topic"], record["partition"], record["event_time"][:13], record["offset"] // 1000)
        groups.setdefault(key, []).append(record)
    for group in groups.values():
        write_object(root, group)
