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


def read_pii_key(key_file: str | None, secret_arn: str | None) -> str:
    """The HMAC key: a local file (its text, trailing newline removed) or a Secrets Manager
    secret (its string value, as index-events reads it)."""
    if key_file:
        with open(key_file, encoding="utf-8") as handle:
            key = handle.read().strip()
    elif secret_arn:
        import boto3

        region = secret_arn.split(":")[3]
        key = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_arn)["SecretString"]
    else:
        key = os.environ.get("PII_HMAC_KEY", "")
    if len(key) < 32:
        raise SystemExit("PII HMAC key missing or shorter than 32 characters (--pii-key-file or --pii-secret-arn)")
    return key
