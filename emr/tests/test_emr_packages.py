"""The lake jobs run with what EMR Serverless provides: the release's Python (its standard library
and the Spark it runs, pyspark and py4j) plus what scripts/ship-lake-code.sh ships (the job
entry points and lake.zip, the ``lake`` package). Nothing else is installed on the workers:
the EMR Serverless release documentation lists Spark, Hive and Tez, no AWS SDK for Python, so a
job that imports boto3 (or any PyPI package) fails on AWS while every local test passes.

Two checks: every import statement of every job module and lake module (nested ones too, which a
plain import would not run), and an actual import of each module from the archive as shipped,
in a fresh interpreter that refuses any other top-level package.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JOBS = ROOT / "emr" / "jobs"
LAKE = ROOT / "emr" / "lake"

# The release the EMR application runs (resources/lake.yml) and what it provides beyond the
# standard library. The worker Python of the emr-7 releases is 3.9 (Amazon Linux 2023).
RELEASE = "emr-7.12.0"
RELEASE_PYTHON = (3, 9)
RELEASE_PACKAGES = {"pyspark", "py4j"}
# What the job archive carries: the lake package (lake.zip, spark.submit.pyFiles).
ARCHIVE_PACKAGES = {"lake"}


def _modules() -> list[Path]:
    return sorted(JOBS.glob("*.py")) + sorted(LAKE.glob("*.py"))


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - {"__future__"}


def test_the_application_runs_the_release_these_packages_describe():
    lake_yml = (ROOT / "resources" / "lake.yml").read_text(encoding="utf-8")
    assert re.search(rf"^\s+ReleaseLabel: {re.escape(RELEASE)}$", lake_yml, re.MULTILINE)


def test_the_ship_script_archives_the_lake_package_and_the_job_entry_points():
    ship = (ROOT / "scripts" / "ship-lake-code.sh").read_text(encoding="utf-8")
    assert 'python3 -m zipfile -c "$work/lake.zip" lake' in ship
    assert "--include '*.py' \"$root/emr/jobs/\"" in ship


def test_every_import_of_every_job_and_lake_module_is_provided_on_emr():
    allowed = set(sys.stdlib_module_names) | RELEASE_PACKAGES | ARCHIVE_PACKAGES
    foreign = {
        str(path.relative_to(ROOT)): sorted(_imported_top_levels(path) - allowed)
        for path in _modules()
        if _imported_top_levels(path) - allowed
    }
    assert foreign == {}, f"imports EMR Serverless does not provide (ship them or drop them): {foreign}"
    assert "boto3" not in set().union(*(_imported_top_levels(path) for path in _modules()))


def test_every_module_parses_as_the_release_python():
    for path in _modules():
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=RELEASE_PYTHON)


_ISOLATED_IMPORT = """
import importlib.abc, importlib.util, sys
allowed = set(sys.stdlib_module_names) | set(sys.argv[1].split(","))

class OnlyWhatEmrProvides(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        # Underscored modules are the interpreter's own (_sysconfigdata_*, _decimal, ...).
        if top not in allowed and not top.startswith("_"):
            raise ImportError(f"{name} is neither in the EMR release nor in the job archive")
        return None

sys.meta_path.insert(0, OnlyWhatEmrProvides())
sys.path.insert(0, sys.argv[2])
for job in sys.argv[4:]:
    spec = importlib.util.spec_from_file_location(job, f"{sys.argv[3]}/{job}.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
import lake
for module in sorted(__import__("pkgutil").iter_modules(lake.__path__)):
    importlib.import_module(f"lake.{module.name}")
    assert sys.modules[f"lake.{module.name}"].__file__.startswith(sys.argv[2]), module.name
print("ok")
"""


def test_each_job_and_lake_module_imports_from_the_shipped_archive_alone(tmp_path):
    archive = tmp_path / "lake.zip"
    # As scripts/ship-lake-code.sh builds it.
    subprocess.run([sys.executable, "-m", "zipfile", "-c", str(archive), "lake"], cwd=ROOT / "emr", check=True)
    assert {Path(name).parts[0] for name in zipfile.ZipFile(archive).namelist()} == {"lake"}
    jobs = [path.stem for path in sorted(JOBS.glob("*.py"))]
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _ISOLATED_IMPORT,
            ",".join(sorted(RELEASE_PACKAGES | ARCHIVE_PACKAGES)),
            str(archive),
            str(JOBS),
            *jobs,
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "LAKE_DATABASE": "crypto_db_test"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
