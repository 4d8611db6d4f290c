"""One SparkSession for the whole pytest run (Spark start is the slow part), on a throwaway
Iceberg JDBC catalog (SQLite) named like production's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "emr"))
os.environ.setdefault("TZ", "UTC")
# The Python workers import lake (UDFs) too: they inherit this environment.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "emr"), os.environ.get("PYTHONPATH")]))

JARS = [
    ROOT / ".local/dist/jars/iceberg-spark-runtime-3.5_2.12-1.10.0.jar",
    ROOT / ".local/dist/jars/sqlite-jdbc-3.51.1.0.jar",
]
CONTRACTS = ROOT / "tests/fixtures/contracts"
PII_KEY = "test-pii-key-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="session")
def lake_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lake")


@pytest.fixture(scope="session")
def spark(lake_dir):
    from lake.session import CatalogOptions, build_session

    missing = [str(jar) for jar in JARS if not jar.exists()]
    if missing:
        raise RuntimeError(f"missing jars {missing}: run npx tsx local/services-cli.ts provision --python")
    options = CatalogOptions(
        catalog_impl="jdbc",
        warehouse=str(lake_dir / "warehouse"),
        jdbc_uri=f"jdbc:sqlite:{lake_dir / 'catalog.db'}",
        master="local[2]",
        jars=",".join(str(jar) for jar in JARS),
        shuffle_partitions=2,
    )
    session = build_session(options, "lake-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def validator():
    from lake.contract import ContractValidator

    return ContractValidator.from_directory(str(CONTRACTS))


@pytest.fixture
def empty_lake(spark):
    """Drops every crypto_db table and view: each integration test starts from nothing."""
    from lake import tables

    spark.sql("DROP VIEW IF EXISTS crypto_db.trader_view")
    for table in tables.TABLES:
        spark.sql(f"DROP TABLE IF EXISTS crypto_db.{table} PURGE")
    return spark
