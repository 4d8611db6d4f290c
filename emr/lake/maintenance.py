"""lake-maintenance: compaction and cleanup with Iceberg's Spark procedures.

Order matters: compact data files (applying merge-on-read deletes), compact position delete
files, rewrite manifests, then expire old snapshots (which frees the replaced files) and only
then remove orphans (files no snapshot references, e.g. from failed writes).

Concurrency: the hourly refresh (cron 7 past) and this job (cron 37 past, once a day) are
scheduled apart, but a long refresh can still overlap. Iceberg commits optimistically: a writer
whose base snapshot moved retries its commit, up to ``commit.retry.num-retries`` (a table
property, set on every table by both jobs); compaction commits file group by file group
(``partial-progress.enabled``), so a conflict with a refresh costs one group, not the run.

Safety: orphan removal deletes any unreferenced file older than its cut-off, including files
an in-flight write has not committed yet; the cut-off therefore has a floor of 24 hours (the
same floor Iceberg's procedure enforces). Snapshot expiry always keeps the last ``retain_last``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pyspark.sql import SparkSession

from lake import tables
from lake.session import CATALOG

MIN_ORPHAN_AGE = timedelta(hours=24)

# Iceberg's defaults are 4 retries waiting 100 ms to 60 s: a compaction commit can take longer
# than a refresh's MERGE to validate, so both sides get more room (total capped at 30 minutes).
COMMIT_RETRY_PROPERTIES = {
    "commit.retry.num-retries": "10",
    "commit.retry.min-wait-ms": "1000",
    "commit.retry.max-wait-ms": "60000",
    "commit.retry.total-timeout-ms": "1800000",
}
PARTIAL_PROGRESS_MAX_COMMITS = 10


def ensure_commit_retries(spark: SparkSession, table: str) -> bool:
    """Sets COMMIT_RETRY_PROPERTIES on the table unless it has them already (setting a property
    is itself a commit: done once, not on every run). True when it changed the table."""
    name = tables.qualified(table)
    current = {row["key"]: row["value"] for row in spark.sql(f"SHOW TBLPROPERTIES {name}").collect()}
    missing = {key: value for key, value in COMMIT_RETRY_PROPERTIES.items() if current.get(key) != value}
    if not missing:
        return False
    assignments = ", ".join(f"'{key}' = '{value}'" for key, value in sorted(missing.items()))
    spark.sql(f"ALTER TABLE {name} SET TBLPROPERTIES ({assignments})")
    return True


@dataclass(frozen=True)
class MaintenanceOptions:
    target_file_size_bytes: int = 128 * 1024 * 1024
    min_input_files: int = 2
    snapshot_retention: timedelta = timedelta(days=3)
    retain_last: int = 10
    orphan_age: timedelta = timedelta(days=3)

    def validate(self) -> None:
        if self.target_file_size_bytes < 1024 * 1024:
            raise ValueError("target file size below 1 MiB")
        if self.retain_last < 1:
            raise ValueError("retain_last must keep at least one snapshot")
        if self.orphan_age < MIN_ORPHAN_AGE:
            raise ValueError(f"orphan age {self.orphan_age} is below {MIN_ORPHAN_AGE}: in-flight writes could lose files")


def _ts(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def maintain_table(spark: SparkSession, table: str, options: MaintenanceOptions, now: datetime) -> dict[str, object]:
    name = tables.qualified(table)
    call = f"CALL {CATALOG}.system"
    out: dict[str, object] = {}
    rewritten = spark.sql(
        f"{call}.rewrite_data_files(table => '{name}', options => map("
        f"'target-file-size-bytes', '{options.target_file_size_bytes}', "
        f"'min-input-files', '{options.min_input_files}', "
        # Files carrying merge-on-read deletes are rewritten even if already well sized.
        "'delete-file-threshold', '1', 'remove-dangling-deletes', 'true', "
        # Commit file groups as they finish: a conflicting refresh commit fails one group.
        f"'partial-progress.enabled', 'true', 'partial-progress.max-commits', '{PARTIAL_PROGRESS_MAX_COMMITS}'))"
    ).first()
    out["rewritten_data_files"] = rewritten["rewritten_data_files_count"]
    out["added_data_files"] = rewritten["added_data_files_count"]
    deletes = spark.sql(
        f"{call}.rewrite_position_delete_files(table => '{name}', options => map('rewrite-all', 'true'))"
    ).first()
    out["rewritten_delete_files"] = deletes["rewritten_delete_files_count"]
    manifests = spark.sql(f"{call}.rewrite_manifests(table => '{name}')").first()
    out["rewritten_manifests"] = manifests["rewritten_manifests_count"]
    expired = spark.sql(
        f"{call}.expire_snapshots(table => '{name}', older_than => TIMESTAMP '{_ts(now - options.snapshot_retention)}', "
        f"retain_last => {options.retain_last})"
    ).first()
    out["deleted_data_files"] = expired["deleted_data_files_count"]
    orphans = spark.sql(
        f"{call}.remove_orphan_files(table => '{name}', older_than => TIMESTAMP '{_ts(now - options.orphan_age)}')"
    ).collect()
    out["orphan_files"] = len(orphans)
    return out


def maintain(spark: SparkSession, options: MaintenanceOptions, now: datetime | None = None) -> dict[str, dict[str, object]]:
    options.validate()
    now = now or datetime.now(timezone.utc)
    tables.ensure_tables(spark)
    for table in tables.TABLES:
        ensure_commit_retries(spark, table)
    return {table: maintain_table(spark, table, options, now) for table in tables.TABLES}


def data_files_per_partition(spark: SparkSession, table: str) -> dict[str, int]:
    """Live data files per partition (the `data_files` metadata table)."""
    rows = spark.sql(
        f"SELECT CAST(partition AS STRING) AS partition, COUNT(*) AS files FROM {tables.qualified(table)}.data_files GROUP BY 1 ORDER BY 1"
    ).collect()
    return {row["partition"]: row["files"] for row in rows}
