"""Pure transforms from validated raw lines to the rows of the lake tables.

Money and quantities arrive as decimal strings and become DECIMAL(38,18) by a string cast,
never through a double: the contract allows 20 integer and 18 fractional digits, exactly 38.
"""

from __future__ import annotations

import hashlib
import hmac

from pyspark.sql import Column, DataFrame, Window as W
from pyspark.sql import functions as F
from pyspark.sql import types as T

MONEY = T.DecimalType(38, 18)
ISO_SECONDS = "yyyy-MM-dd'T'HH:mm:ss'Z'"

BAR_VALUE = T.StructType(
    [T.StructField(name, T.StringType()) for name in (
        "event_id", "source", "symbol", "timeframe", "start", "open", "high", "low", "close",
        "volume", "vwap", "ingested_at",
    )]
    + [
        T.StructField("schema_version", T.IntegerType()),
        T.StructField("trade_count", T.LongType()),
        T.StructField("revision", T.LongType()),
    ]
)
TRADE_VALUE = T.StructType(
    [T.StructField(name, T.StringType()) for name in (
        "event_id", "source", "trade_id", "scheduled_at", "executed_at", "user_id", "user_name",
        "user_email", "document_id", "symbol", "side", "price", "quantity", "notional", "quote_at",
    )]
    + [T.StructField("schema_version", T.IntegerType())]
)
ASSET_VALUE = T.StructType(
    [T.StructField(name, T.StringType()) for name in (
        "event_id", "source", "asset_id", "icon_url", "fetch_date", "fetched_at",
    )]
    + [T.StructField("schema_version", T.IntegerType()), T.StructField("icon_size", T.LongType())]
)

BAR_COLUMNS = [
    "symbol", "start", "open", "high", "low", "close", "volume", "trade_count", "vwap",
    "event_id", "source", "ingested_at", "schema_version", "revision",
]
TRADE_COLUMNS = [
    "event_id", "trade_id", "scheduled_at", "executed_at", "user_id", "user_name_token",
    "user_email_token", "document_id_token", "symbol", "side", "price", "quantity", "notional",
    "quote_at", "source", "schema_version",
]
ASSET_COLUMNS = [
    "asset_id", "icon_url", "icon_size", "fetch_date", "fetched_at", "valid_from", "event_id",
    "source", "schema_version",
]


def _ts(name: str) -> Column:
    return F.to_timestamp(F.col(name), ISO_SECONDS)


def _money(name: str) -> Column:
    return F.col(name).cast(MONEY)


def _latest_first() -> list[Column]:
    """The newest Kafka record first: a re-emitted event (a re-polled bar, a repeated
    invocation) supersedes the older copy; partition then offset make the order total."""
    return [F.col("_ts").desc(), F.col("_partition").desc(), F.col("_offset").desc()]


def _parsed(lines: DataFrame, schema: T.StructType) -> DataFrame:
    return lines.select(
        F.from_json(F.col("value"), schema).alias("e"),
        F.to_timestamp(F.col("timestamp")).alias("_ts"),
        F.col("partition").alias("_partition"),
        F.col("offset").alias("_offset"),
    ).select("e.*", "_ts", "_partition", "_offset")


def _one_per_key(rows: DataFrame, keys: list[str], order: list[Column]) -> DataFrame:
    ranked = rows.withColumn("_rank", F.row_number().over(W.partitionBy(*keys).orderBy(*order)))
    return ranked.where(F.col("_rank") == 1)


def to_bars(valid_lines: DataFrame) -> DataFrame:
    """crypto.bars lines -> bars_1m rows, one per (symbol, start): the highest ``revision`` wins,
    whatever order the records arrived in (an older revision re-emitted or redelivered after a
    newer one must not replace it); between copies of one revision, the latest record."""
    parsed = _parsed(valid_lines, BAR_VALUE)
    typed = parsed.select(
        F.col("symbol"),
        _ts("start").alias("start"),
        *[_money(name).alias(name) for name in ("open", "high", "low", "close", "volume", "vwap")],
        F.col("trade_count"),
        F.col("event_id"),
        F.col("source"),
        _ts("ingested_at").alias("ingested_at"),
        F.col("schema_version"),
        # A bar of contract v1 (landed before revisions) is revision 0: older than any revision.
        F.coalesce(F.col("revision"), F.lit(0).cast(T.LongType())).alias("revision"),
        "_ts", "_partition", "_offset",
    )
    order = [F.col("revision").desc(), *_latest_first()]
    return _one_per_key(typed, ["symbol", "start"], order).select(*BAR_COLUMNS)


def hmac_token(key: str):
    """A column function: HMAC-SHA256(key, value) in lowercase hex over UTF-8, exactly
    functions/shared/pii.ts ``tokenize`` (Node's createHmac with a string key uses its UTF-8
    bytes). A UDF because Spark has no HMAC; building it from sha2() would put key-derived
    bytes into the query plan, which the Spark UI and logs show."""
    key_bytes = key.encode("utf-8")

    @F.udf(returnType=T.StringType())
    def token(value):
        if value is None:
            return None
        return hmac.new(key_bytes, value.encode("utf-8"), hashlib.sha256).hexdigest()

    return token


def to_trades(valid_lines: DataFrame, pii_key: str) -> DataFrame:
    """crypto.trades lines -> trades rows, one per event_id, personal fields tokenized; the
    clear values are dropped here and never reach a table."""
    token = hmac_token(pii_key)
    parsed = _parsed(valid_lines, TRADE_VALUE)
    typed = parsed.select(
        F.col("event_id"),
        F.col("trade_id"),
        _ts("scheduled_at").alias("scheduled_at"),
        _ts("executed_at").alias("executed_at"),
        F.col("user_id"),
        token(F.col("user_name")).alias("user_name_token"),
        token(F.col("user_email")).alias("user_email_token"),
        token(F.col("document_id")).alias("document_id_token"),
        F.col("symbol"),
        F.col("side"),
        *[_money(name).alias(name) for name in ("price", "quantity", "notional")],
        _ts("quote_at").alias("quote_at"),
        F.col("source"),
        F.col("schema_version"),
        "_ts", "_partition", "_offset",
    )
    return _one_per_key(typed, ["event_id"], _latest_first()).select(*TRADE_COLUMNS)


def to_assets(valid_lines: DataFrame) -> DataFrame:
    """crypto.assets lines -> the latest row per asset_id; ``valid_from`` is its fetched_at."""
    parsed = _parsed(valid_lines, ASSET_VALUE)
    typed = parsed.select(
        F.col("asset_id"),
        F.col("icon_url"),
        F.col("icon_size"),
        F.to_date(F.col("fetch_date"), "yyyy-MM-dd").alias("fetch_date"),
        _ts("fetched_at").alias("fetched_at"),
        _ts("fetched_at").alias("valid_from"),
        F.col("event_id"),
        F.col("source"),
        F.col("schema_version"),
        "_ts", "_partition", "_offset",
    )
    order = [F.col("valid_from").desc(), *_latest_first()]
    return _one_per_key(typed, ["asset_id"], order).select(*ASSET_COLUMNS)


def hours_of(rows: DataFrame, time_column: str) -> DataFrame:
    """The distinct UTC hours (``hour_start``) the rows fall in: the gold hours to recompute."""
    return rows.select(F.date_trunc("hour", F.col(time_column)).alias("hour_start")).distinct()


def bars_1h(bars_1m: DataFrame) -> DataFrame:
    """Hourly OHLCV from minute bars: open of the first minute, close of the last, volume-weighted
    vwap (decimal arithmetic; Spark keeps at least 6 fractional digits of the quotient, then it
    is stored at scale 18)."""
    hourly = bars_1m.groupBy(
        F.col("symbol"), F.date_trunc("hour", F.col("start")).alias("hour_start")
    ).agg(
        F.min_by(F.col("open"), F.col("start")).alias("open"),
        F.max(F.col("high")).alias("high"),
        F.min(F.col("low")).alias("low"),
        F.max_by(F.col("close"), F.col("start")).alias("close"),
        F.sum(F.col("volume")).alias("volume"),
        F.sum(F.col("trade_count")).alias("trade_count"),
        F.sum(F.col("vwap") * F.col("volume")).alias("_vwap_volume"),
        F.count(F.lit(1)).alias("minutes"),
    )
    return hourly.select(
        F.col("symbol"),
        F.col("hour_start"),
        F.col("open").cast(MONEY).alias("open"),
        F.col("high").cast(MONEY).alias("high"),
        F.col("low").cast(MONEY).alias("low"),
        F.col("close").cast(MONEY).alias("close"),
        F.col("volume").cast(MONEY).alias("volume"),
        F.col("trade_count").cast(T.LongType()).alias("trade_count"),
        F.when(F.col("volume") > 0, (F.col("_vwap_volume") / F.col("volume")).cast(MONEY)).alias("vwap"),
        F.col("minutes").cast(T.IntegerType()).alias("minutes"),
    )


def trade_volume_1h(trades: DataFrame) -> DataFrame:
    """Hourly traded volume per symbol: trades, quantity and notional by side, distinct traders."""
    is_buy = F.col("side") == F.lit("BUY")
    zero = F.lit(0).cast(MONEY)
    hourly = trades.groupBy(
        F.col("symbol"), F.date_trunc("hour", F.col("executed_at")).alias("hour_start")
    ).agg(
        F.count(F.lit(1)).alias("trades"),
        F.countDistinct(F.col("user_id")).alias("traders"),
        F.sum(F.when(is_buy, F.col("quantity")).otherwise(zero)).alias("buy_quantity"),
        F.sum(F.when(~is_buy, F.col("quantity")).otherwise(zero)).alias("sell_quantity"),
        F.sum(F.when(is_buy, F.col("notional")).otherwise(zero)).alias("buy_notional"),
        F.sum(F.when(~is_buy, F.col("notional")).otherwise(zero)).alias("sell_notional"),
        F.sum(F.col("notional")).alias("notional"),
    )
    return hourly.select(
        F.col("symbol"),
        F.col("hour_start"),
        F.col("trades").cast(T.LongType()).alias("trades"),
        F.col("traders").cast(T.LongType()).alias("traders"),
        *[F.col(name).cast(MONEY).alias(name) for name in (
            "buy_quantity", "sell_quantity", "buy_notional", "sell_notional", "notional",
        )],
    )
