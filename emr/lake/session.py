"""One SparkSession builder for every job, on EMR Serverless and locally.

The Iceberg catalog is always named ``glue_catalog`` and is the default catalog, so SQL says
``<database>.bars_1m`` in both worlds (``crypto_db`` locally, the stage's database on AWS,
``DATABASE`` below): on EMR it is the AWS Glue Data Catalog
(``--catalog-impl glue``), locally an Iceberg JDBC catalog on SQLite (``--catalog-impl jdbc``).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

CATALOG = "glue_catalog"
# The contract's crypto_db. On AWS each stage has its own Glue database (crypto_db_<stage>, set by
# the EMR application as LAKE_DATABASE), so two stages can share an account.
DATABASE = os.environ.get("LAKE_DATABASE", "crypto_db")

_CATALOG_IMPLS = {
    "glue": "org.apache.iceberg.aws.glue.GlueCatalog",
    "jdbc": "org.apache.iceberg.jdbc.JdbcCatalog",
}


@dataclass(frozen=True)
class CatalogOptions:
    catalog_impl: str
    warehouse: str
    jdbc_uri: str | None = None
    master: str | None = None
    jars: str | None = None
    shuffle_partitions: int | None = None


def add_catalog_arguments(parser: argparse.ArgumentParser) -> None:
    """The catalog arguments every job accepts (defaults from LAKE_* environment variables)."""
    parser.add_argument("--catalog-impl", choices=sorted(_CATALOG_IMPLS), default=os.environ.get("LAKE_CATALOG_IMPL", "glue"))
    parser.add_argument("--warehouse", default=os.environ.get("LAKE_WAREHOUSE"))
    parser.add_argument("--jdbc-uri", default=os.environ.get("LAKE_JDBC_URI"))
    parser.add_argument("--master", default=os.environ.get("LAKE_SPARK_MASTER"), help="local runs only, e.g. local[*]")
    parser.add_argument("--jars", default=os.environ.get("LAKE_SPARK_JARS"), help="comma-separated jars, local runs only")
    parser.add_argument("--shuffle-partitions", type=int, default=None)


def catalog_options(args: argparse.Namespace) -> CatalogOptions:
    if not args.warehouse:
        raise SystemExit("--warehouse (or LAKE_WAREHOUSE) is required")
    if args.catalog_impl == "jdbc" and not args.jdbc_uri:
        raise SystemExit("--jdbc-uri (or LAKE_JDBC_URI) is required with --catalog-impl jdbc")
    return CatalogOptions(
        catalog_impl=args.catalog_impl,
        warehouse=args.warehouse,
        jdbc_uri=args.jdbc_uri,
        master=args.master,
        jars=args.jars,
        shuffle_partitions=args.shuffle_partitions,
    )


def spark_conf(options: CatalogOptions) -> dict[str, str]:
    """The Spark configuration of the catalog, as plain key/values (tested without a JVM)."""
    prefix = f"spark.sql.catalog.{CATALOG}"
    conf = {
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.catalog-impl": _CATALOG_IMPLS[options.catalog_impl],
        f"{prefix}.warehouse": options.warehouse,
        "spark.sql.defaultCatalog": CATALOG,
        # Event times are UTC instants; the partitions and hours the jobs compute must be UTC too.
        "spark.sql.session.timeZone": "UTC",
        # Money: a decimal overflow must fail the job, never become NULL.
        "spark.sql.ansi.enabled": "true",
    }
    if options.catalog_impl == "glue":
        conf[f"{prefix}.io-impl"] = "org.apache.iceberg.aws.s3.S3FileIO"
    else:
        conf[f"{prefix}.uri"] = options.jdbc_uri or ""
        # V1 adds the view columns to the JDBC catalog tables: crypto_db.trader_view needs them.
        conf[f"{prefix}.jdbc.schema-version"] = "V1"
        # SQLite has one writer: one pooled connection per process, and a wait instead of an
        # immediate SQLITE_BUSY when another process (a query, the report) holds the lock.
        conf[f"{prefix}.clients"] = "1"
        conf[f"{prefix}.jdbc.busy_timeout"] = "30000"
        conf[f"{prefix}.jdbc.journal_mode"] = "WAL"
        if _catalog_tables_exist(options.jdbc_uri or ""):
            # Iceberg's JdbcCatalog checks for its tables at start-up with a DatabaseMetaData
            # ResultSet it never closes: that pins a read snapshot on the one pooled connection,
            # so once another job commits, every commit of this one fails SQLITE_BUSY_SNAPSHOT
            # (Glue has nothing like it: two jobs at once are normal on AWS). Only the first
            # job of a fresh catalog creates the tables.
            conf[f"{prefix}.jdbc.init-catalog-tables"] = "false"
    if options.master and options.master.startswith("local"):
        # One small machine: a handful of shuffle partitions instead of 200 tiny tasks and files.
        conf["spark.sql.shuffle.partitions"] = str(options.shuffle_partitions or 4)
        conf["spark.default.parallelism"] = str(options.shuffle_partitions or 4)
        conf["spark.ui.enabled"] = "false"
        # The stage progress bars flood a terminal (make run, make query, benchmarks) and say
        # nothing the job's own lines do not; EMR has no terminal to draw them on.
        conf["spark.ui.showConsoleProgress"] = "false"
        conf["spark.sql.adaptive.coalescePartitions.enabled"] = "true"
    elif options.shuffle_partitions:
        conf["spark.sql.shuffle.partitions"] = str(options.shuffle_partitions)
    if options.jars:
        conf["spark.jars"] = options.jars
    return conf


def _catalog_tables_exist(jdbc_uri: str) -> bool:
    """Whether the SQLite catalog behind ``jdbc:sqlite:<path>`` already has Iceberg's tables."""
    import sqlite3
    from contextlib import closing

    path = jdbc_uri[len("jdbc:sqlite:"):] if jdbc_uri.startswith("jdbc:sqlite:") else ""
    if not path or not os.path.exists(path):
        return False
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {"iceberg_tables", "iceberg_namespace_properties"} <= names


def build_session(options: CatalogOptions, app_name: str):
    """Builds (or returns the running) SparkSession configured for the lake catalog."""
    from pyspark.sql import SparkSession

    if options.jdbc_uri and options.jdbc_uri.startswith("jdbc:sqlite:"):
        # SQLite creates the database file, not its directory.
        os.makedirs(os.path.dirname(os.path.abspath(options.jdbc_uri[len("jdbc:sqlite:"):])), exist_ok=True)
    builder = SparkSession.builder.appName(app_name)
    if options.master:
        builder = builder.master(options.master)
    for key, value in spark_conf(options).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if options.master and options.master.startswith("local"):
        # Spark's INFO/WARN chatter buries the job's output locally; errors still show.
        spark.sparkContext.setLogLevel("ERROR")
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.{DATABASE}")
    return spark
