"""Window arithmetic and the catalog configuration (no Spark)."""

from datetime import datetime, timezone

import pytest

from lake.session import CatalogOptions, spark_conf
from lake.window import Window


def test_window_lists_every_overlapping_hour():
    window = Window.parse("2026-11-30T22:30:00Z", "2026-12-01T01:00:00Z")
    assert [h.strftime("%Y-%m-%dT%H") for h in window.hours()] == [
        "2026-11-30T22", "2026-11-30T23", "2026-12-01T00",
    ]
    assert window.days() == ["2026-11-30", "2026-12-01"]
    assert window.minutes() == 150
    assert window.start == datetime(2026, 11, 30, 22, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-11-30T11:00:00Z", "2026-11-30T10:00:00Z", "before end"),
        ("2026-11-30T10:00:00Z", "2026-11-30T10:00:00Z", "before end"),
        ("2026-11-01T00:00:00Z", "2026-11-08T00:00:01Z", "longer than 7 days"),
        ("2026-11-30T10:00:00", "2026-11-30T11:00:00Z", "time zone"),
    ],
)
def test_invalid_windows_are_refused(start, end, message):
    with pytest.raises(ValueError, match=message):
        Window.parse(start, end)


def test_exactly_seven_days_is_allowed():
    assert Window.parse("2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z").minutes() == 7 * 24 * 60


def test_glue_and_jdbc_catalogs_share_the_name_and_default():
    glue = spark_conf(CatalogOptions("glue", "s3://lake/warehouse"))
    jdbc = spark_conf(CatalogOptions("jdbc", "/tmp/w", "jdbc:sqlite:/tmp/c.db", master="local[*]"))
    assert glue["spark.sql.catalog.glue_catalog.catalog-impl"] == "org.apache.iceberg.aws.glue.GlueCatalog"
    assert glue["spark.sql.catalog.glue_catalog.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert jdbc["spark.sql.catalog.glue_catalog.catalog-impl"] == "org.apache.iceberg.jdbc.JdbcCatalog"
    assert jdbc["spark.sql.catalog.glue_catalog.uri"] == "jdbc:sqlite:/tmp/c.db"
    assert glue["spark.sql.defaultCatalog"] == jdbc["spark.sql.defaultCatalog"] == "glue_catalog"
    assert jdbc["spark.sql.shuffle.partitions"] == "4"
    assert "spark.sql.shuffle.partitions" not in glue
    assert jdbc["spark.ui.showConsoleProgress"] == "false"


def test_a_jdbc_catalog_with_its_tables_skips_the_start_up_check_that_pins_a_read_snapshot(tmp_path):
    import sqlite3
    from contextlib import closing

    path = tmp_path / "catalog.db"
    options = CatalogOptions("jdbc", str(tmp_path / "w"), f"jdbc:sqlite:{path}", master="local[*]")
    key = "spark.sql.catalog.glue_catalog.jdbc.init-catalog-tables"
    assert key not in spark_conf(options)  # a fresh catalog: the first job creates the tables
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE iceberg_tables (x TEXT)")
        db.execute("CREATE TABLE iceberg_namespace_properties (x TEXT)")
        db.commit()
    assert spark_conf(options)[key] == "false"
