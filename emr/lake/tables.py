"""The Iceberg tables of crypto_db: DDL (one definition for Glue and the local JDBC catalog),
idempotent MERGEs and the trader view.

Every table is format v2 (what Athena reads), merge-on-read: a MERGE that changes a few rows
writes a delete file and the new rows instead of rewriting whole data files; lake-maintenance
compacts them. Tables are partitioned by event day.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake.session import DATABASE

_PROPERTIES = (
    "'format-version'='2', 'write.delete.mode'='merge-on-read', 'write.update.mode'='merge-on-read', "
    "'write.merge.mode'='merge-on-read', 'write.distribution-mode'='hash', "
    "'write.metadata.delete-after-commit.enabled'='true', 'write.metadata.previous-versions-max'='50'"
)

MONEY = "DECIMAL(38,18)"

TABLES: dict[str, str] = {
    "bars_1m": f"""(
        symbol STRING NOT NULL, start TIMESTAMP NOT NULL,
        open {MONEY}, high {MONEY}, low {MONEY}, close {MONEY}, volume {MONEY},
        trade_count BIGINT, vwap {MONEY},
        event_id STRING, source STRING, ingested_at TIMESTAMP, schema_version INT,
        revision BIGINT
    ) PARTITIONED BY (days(start))""",
    "trades": f"""(
        event_id STRING NOT NULL, trade_id STRING, scheduled_at TIMESTAMP,
        executed_at TIMESTAMP NOT NULL, user_id STRING,
        user_name_token STRING, user_email_token STRING, document_id_token STRING,
        symbol STRING, side STRING, price {MONEY}, quantity {MONEY}, notional {MONEY},
        quote_at TIMESTAMP, source STRING, schema_version INT
    ) PARTITIONED BY (days(executed_at))""",
    # A current-state dimension of a few dozen rows: one small unpartitioned table (a day
    # partition per fetch would only scatter it into tiny files).
    "assets": """(
        asset_id STRING NOT NULL, icon_url STRING, icon_size BIGINT, fetch_date DATE,
        fetched_at TIMESTAMP, valid_from TIMESTAMP NOT NULL,
        event_id STRING, source STRING, schema_version INT
    )""",
    "bars_1h": f"""(
        symbol STRING NOT NULL, hour_start TIMESTAMP NOT NULL,
        open {MONEY}, high {MONEY}, low {MONEY}, close {MONEY}, volume {MONEY},
        trade_count BIGINT, vwap {MONEY}, minutes INT
    ) PARTITIONED BY (days(hour_start))""",
    "trade_volume_1h": f"""(
        symbol STRING NOT NULL, hour_start TIMESTAMP NOT NULL, trades BIGINT, traders BIGINT,
        buy_quantity {MONEY}, sell_quantity {MONEY}, buy_notional {MONEY},
        sell_notional {MONEY}, notional {MONEY}
    ) PARTITIONED BY (days(hour_start))""",
    "dq_results": """(
        run_id STRING NOT NULL, checked_at TIMESTAMP NOT NULL,
        window_start TIMESTAMP, window_end TIMESTAMP,
        check_name STRING NOT NULL, table_name STRING, status STRING NOT NULL,
        observed DOUBLE, threshold DOUBLE, detail STRING
    ) PARTITIONED BY (days(checked_at))""",
}

KEYS: dict[str, list[str]] = {
    "bars_1m": ["symbol", "start"],
    "trades": ["event_id"],
    "assets": ["asset_id"],
    "bars_1h": ["symbol", "hour_start"],
    "trade_volume_1h": ["symbol", "hour_start"],
}

# Columns added after a table was first created: ``ensure_tables`` adds each one missing from an
# existing table (Iceberg schema evolution: a metadata change, no data file rewritten; the rows
# written before read it as NULL).
ADDED_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "bars_1m": [("revision", "BIGINT")],
}

# The version column of a table whose rows are revised at the source: a row is replaced only by a
# strictly higher version (a NULL in the table, from before the column existed, is lower than any).
VERSIONS: dict[str, str] = {
    "bars_1m": "revision",
}

# The partition column of each merged table: the MERGE condition bounds it to the source's
# range so Iceberg prunes the target to the days the source touches.
TIME_COLUMNS: dict[str, str | None] = {
    "bars_1m": "start",
    "trades": "executed_at",
    "assets": None,
    "bars_1h": "hour_start",
    "trade_volume_1h": "hour_start",
}

TRADER_VIEW_SQL = f"""
SELECT t.event_id, t.trade_id, t.executed_at, t.user_id, t.user_name_token, t.symbol, t.side,
       t.price, t.quantity, t.notional,
       b.start AS bar_start, b.open AS bar_open, b.high AS bar_high, b.low AS bar_low,
       b.close AS bar_close, b.volume AS bar_volume, b.vwap AS bar_vwap,
       a.asset_id, a.icon_url
FROM {DATABASE}.trades t
LEFT JOIN {DATABASE}.bars_1m b
  ON b.symbol = t.symbol AND b.start = date_trunc('MINUTE', t.executed_at)
LEFT JOIN {DATABASE}.assets a
  ON a.asset_id = split_part(t.symbol, '/', 1)
"""


def qualified(table: str) -> str:
    return f"{DATABASE}.{table}"


def ensure_tables(spark: SparkSession) -> None:
    """Creates any missing table (IF NOT EXISTS: concurrent and repeated runs are harmless) and
    adds to an existing table the columns it was created without (``ADDED_COLUMNS``)."""
    for table, body in TABLES.items():
        columns, _, partitioning = body.partition(" PARTITIONED BY ")
        partition_clause = f"PARTITIONED BY {partitioning}" if partitioning else ""
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {qualified(table)} {columns} USING iceberg {partition_clause} "
            f"TBLPROPERTIES ({_PROPERTIES})"
        )
        existing = set(spark.table(qualified(table)).columns) if table in ADDED_COLUMNS else set()
        for column, column_type in ADDED_COLUMNS.get(table, []):
            if column not in existing:
                spark.sql(f"ALTER TABLE {qualified(table)} ADD COLUMN {column} {column_type}")


def define_trader_view(spark: SparkSession) -> None:
    """Each trade with the bar of its minute and its asset's icon. An Iceberg view in the local
    JDBC catalog; on AWS the same SELECT is an Athena view (resources/lake.yml)."""
    spark.sql(f"CREATE OR REPLACE VIEW {qualified('trader_view')} AS {TRADER_VIEW_SQL}")


def merge_sql(table: str, source_view: str, columns: list[str], bounds: tuple[str, str] | None) -> str:
    """MERGE that inserts new keys and updates a matched row only when a column differs, so a
    rerun over unchanged data writes nothing. Assets also refuse an older version (late data
    for an asset must not replace a newer fetch); a versioned table (``VERSIONS``: bars) updates
    a row only with a strictly higher version, so a redelivered or older revision changes nothing."""
    keys = KEYS[table]
    on = " AND ".join(f"t.{key} = s.{key}" for key in keys)
    time_column = TIME_COLUMNS[table]
    if bounds is not None and time_column is not None:
        on += f" AND t.{time_column} >= TIMESTAMP '{bounds[0]}' AND t.{time_column} <= TIMESTAMP '{bounds[1]}'"
    differs = " OR ".join(f"NOT (t.{column} <=> s.{column})" for column in columns if column not in keys)
    matched = f"({differs})"
    if table == "assets":
        matched = f"s.valid_from >= t.valid_from AND {matched}"
    version = VERSIONS.get(table)
    if version is not None:
        matched = f"(t.{version} IS NULL OR s.{version} > t.{version}) AND {matched}"
    column_list = ", ".join(columns)
    values = ", ".join(f"s.{column}" for column in columns)
    updates = ", ".join(f"t.{column} = s.{column}" for column in columns if column not in keys)
    return (
        f"MERGE INTO {qualified(table)} t USING {source_view} s ON {on} "
        f"WHEN MATCHED AND {matched} THEN UPDATE SET {updates} "
        f"WHEN NOT MATCHED THEN INSERT ({column_list}) VALUES ({values})"
    )


def changed_rows(spark: SparkSession, table: str, rows: DataFrame, bounds: tuple[str, str] | None) -> DataFrame:
    """Source rows that are not already in the table exactly (every column, null-safe); for a
    versioned table, rows whose key the table holds at the same or a higher version (one
    revision is one content). Only these go into the MERGE: a rerun over unchanged data, or a
    redelivered older revision, then commits nothing at all, not even an empty snapshot."""
    target = spark.table(qualified(table)).select(*rows.columns)
    time_column = TIME_COLUMNS[table]
    if bounds is not None and time_column is not None:
        target = target.where(
            (F.col(time_column) >= F.to_timestamp(F.lit(bounds[0]))) & (F.col(time_column) <= F.to_timestamp(F.lit(bounds[1])))
        )
    version = VERSIONS.get(table)
    if version is not None:
        same = [F.col(f"s.{key}") == F.col(f"t.{key}") for key in KEYS[table]]
        same.append(F.col(f"t.{version}") >= F.col(f"s.{version}"))
    else:
        same = [F.col(f"s.{column}").eqNullSafe(F.col(f"t.{column}")) for column in rows.columns]
    return rows.alias("s").join(target.alias("t"), on=same, how="left_anti").select(*[F.col(f"s.{c}").alias(c) for c in rows.columns])


def merge(spark: SparkSession, table: str, rows: DataFrame) -> int:
    """MERGEs ``rows`` (unique per key) into ``table``; returns the number of rows that were new
    or different (0: nothing committed)."""
    bounds = None
    time_column = TIME_COLUMNS[table]
    if time_column is not None:
        # Formatted by Spark in the session time zone (UTC): Python datetimes would be local time.
        fmt = "yyyy-MM-dd HH:mm:ss"
        row = rows.agg(
            F.date_format(F.min(time_column), fmt).alias("low"), F.date_format(F.max(time_column), fmt).alias("high")
        ).first()
        if row["low"] is None:
            return 0
        bounds = (row["low"], row["high"])
    changed = changed_rows(spark, table, rows, bounds).localCheckpoint()
    count = changed.count()
    if count == 0:
        return 0
    view = f"lake_source_{table}"
    changed.createOrReplaceTempView(view)
    spark.sql(merge_sql(table, view, list(rows.columns), bounds))
    return count
