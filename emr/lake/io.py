"""Small I/O helpers that work on s3:// (EMR) and local paths alike, through Hadoop's FileSystem."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession


def read_text(spark: SparkSession, path: str) -> str:
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    stream = hpath.getFileSystem(conf).open(hpath)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def read_contracts(spark: SparkSession, directory: str):
    """The contract validator from a directory of *.schema.json (local dir or s3:// prefix)."""
    import json

    from lake.contract import TOPIC_FILES, ContractValidator

    base = directory.rstrip("/")
    if "://" not in base:
        return ContractValidator.from_directory(base)
    return ContractValidator({topic: json.loads(read_text(spark, f"{base}/{name}")) for topic, name in TOPIC_FILES.items()})


def read_pii_key(key_file: str | None) -> str:
    """The HMAC key: a local file (its text, trailing newline removed), or PII_HMAC_KEY. On EMR
    Serverless the application sets PII_HMAC_KEY to an ``EMR.secret@`` reference that EMR
    resolves from Secrets Manager when the job starts (resources/lake.yml): the release ships
    no AWS SDK for Python, and none is needed."""
    if key_file:
        with open(key_file, encoding="utf-8") as handle:
            key = handle.read().strip()
    else:
        key = os.environ.get("PII_HMAC_KEY", "")
    if len(key) < 32:
        raise SystemExit("PII HMAC key missing or shorter than 32 characters (--pii-key-file or PII_HMAC_KEY)")
    return key
