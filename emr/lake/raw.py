"""Reading the raw zone (functions/shared/raw-zone.ts writes it).

Layout: ``{root}/raw/{topic}/dt=YYYY-MM-DD/hour=HH/{partition}-{first}-{last}.ndjson.gz``, event
time, one line per Kafka record: ``{topic, partition, offset, timestamp, timestamp_type, key,
headers, value, event_id, event_time}``. Only the dt/hour partitions a window covers are listed
and read; nothing scans the whole zone.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Iterable

from pyspark.sql import DataFrame, SparkSession, Window as W
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lake.contract import ContractValidator
from lake.window import Window

TOPICS = ("crypto.bars", "crypto.trades", "crypto.assets")
STAGE = "lake-refresh"

LINE_SCHEMA = T.StructType(
    [
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("timestamp", T.StringType()),
        T.StructField("key", T.StringType()),
        T.StructField("value", T.StringType()),
        T.StructField("event_id", T.StringType()),
        T.StructField("event_time", T.StringType()),
    ]
)

VIOLATION = T.StructType([T.StructField("reason", T.StringType()), T.StructField("detail", T.StringType())])


def partition_globs(raw_root: str, topic: str, window: Window) -> list[str]:
    """The object globs of one topic for the window's hours."""
    root = raw_root.rstrip("/")
    return [
        f"{root}/raw/{topic}/dt={hour:%Y-%m-%d}/hour={hour:%H}/*.ndjson.gz" for hour in window.hours()
    ]


def existing_objects(spark: SparkSession, globs: Iterable[str]) -> list[str]:
    """The objects matching the globs, through Hadoop's FileSystem (S3 on EMR, local disk here)."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    found: list[str] = []
    for glob in globs:
        path = jvm.org.apache.hadoop.fs.Path(glob)
        statuses = path.getFileSystem(conf).globStatus(path)
        if statuses:
            found.extend(status.getPath().toString() for status in statuses if status.isFile())
    return sorted(found)


def read_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Raw lines parsed into their envelope; a line that is not an envelope keeps ``line``."""
    if not paths:
        # StructType.add mutates: build a new schema.
        return spark.createDataFrame([], T.StructType([*LINE_SCHEMA.fields, T.StructField("line", T.StringType())]))
    text = spark.read.text(paths)
    parsed = text.withColumn("envelope", F.from_json(F.col("value"), LINE_SCHEMA))
    return parsed.select(
        *[F.col(f"envelope.{field.name}").alias(field.name) for field in LINE_SCHEMA.fields],
        F.col("value").alias("line"),
    )


def in_window(lines: DataFrame, window: Window) -> DataFrame:
    """Lines whose event time falls in [start, end)."""
    event_time = F.to_timestamp(F.col("event_time"), "yyyy-MM-dd'T'HH:mm:ss'Z'")
    return lines.where(
        # Aware datetimes: PySpark converts naive ones with the driver's local time zone.
        (event_time >= F.lit(window.start)) & (event_time < F.lit(window.end))
    )


def dedupe_redelivered(lines: DataFrame) -> DataFrame:
    """One line per Kafka record. land-raw's fixed offset blocks already keep one line per
    offset in an object; the lake does not rely on it (a restored or copied object, a changed
    block size): copies of a (topic, partition, offset) are the same record, so any one of them
    is the record, and the ordering only makes the choice stable."""
    ranked = lines.withColumn(
        "_copy",
        F.row_number().over(
            W.partitionBy("topic", "partition", "offset").orderBy(F.col("line").asc())
        ),
    )
    return ranked.where(F.col("_copy") == 1).drop("_copy")


def with_violations(lines: DataFrame, validator: ContractValidator) -> DataFrame:
    """Adds ``violation`` (struct reason, detail; null when valid). A Python UDF because Spark
    has no JSON Schema validation; the validator is shipped to the executors with the closure."""

    @F.udf(returnType=VIOLATION)
    def violation(topic, value, line_ok):
        if not line_ok:
            return ("upstream_malformed", "raw line is not a raw-zone envelope")
        found = validator.violation(topic, value)
        return None if found is None else (found.reason, found.detail)

    line_ok = F.col("topic").isNotNull() & F.col("offset").isNotNull() & F.col("partition").isNotNull()
    return lines.withColumn("violation", violation(F.col("topic"), F.col("value"), line_ok))


def quarantine_key(topic: str, timestamp: str | None, partition, offset, reason: str, key, value, now: datetime) -> str:
    """The key functions/shared/quarantine.ts gives a rejection (same stage naming, same dating)."""
    day = (timestamp or now.strftime("%Y-%m-%dT%H:%M:%S.000Z"))[:10]
    if partition is not None and offset is not None:
        ident = f"p{partition}-o{offset}"
    else:
        # JSON.stringify([reason, key, value]) with the compact separators of JavaScript.
        payload = json.dumps([reason, key, value], separators=(",", ":"), ensure_ascii=False)
        ident = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]
    return f"quarantine/{topic or 'unknown'}/dt={day}/{STAGE}-{ident}.json"


def quarantine_record(row, now: datetime) -> dict:
    """A QuarantineRecord (tests/fixtures/contracts/quarantine.schema.json)."""
    record = {
        "reason": row["violation"]["reason"],
        "detail": row["violation"]["detail"],
        "stage": STAGE,
        "topic": row["topic"] or "unknown",
        "value": row["value"] if row["topic"] is not None else row["line"],
        "quarantined_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if row["partition"] is not None:
        record["partition"] = row["partition"]
    if row["offset"] is not None:
        record["offset"] = str(row["offset"])
    if row["timestamp"] is not None:
        record["timestamp"] = row["timestamp"]
    if row["topic"] is not None:
        record["key"] = row["key"]
    return record


def write_quarantine(spark: SparkSession, raw_root: str, invalid: DataFrame, now: datetime | None = None) -> int:
    """Writes one object per invalid line, named by its coordinates: a rerun rewrites the same
    objects. Streams rows to the driver; invalid rows are the exception, not the bulk."""
    now = now or datetime.now(timezone.utc)
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    root = raw_root.rstrip("/")
    count = 0
    for row in invalid.toLocalIterator():
        record = quarantine_record(row, now)
        key = quarantine_key(
            record["topic"], row["timestamp"], row["partition"], row["offset"], record["reason"], record.get("key"), record["value"], now
        )
        path = jvm.org.apache.hadoop.fs.Path(f"{root}/{key}")
        stream = path.getFileSystem(conf).create(path, True)
        try:
            stream.write(bytearray((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")))
        finally:
            stream.close()
        count += 1
    return count
