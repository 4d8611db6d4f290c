"""The job mains, imported from emr/jobs/ (a directory of scripts, not a package)."""

import importlib.util
from pathlib import Path

_JOBS = Path(__file__).resolve().parents[1] / "jobs"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, _JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quality_main(argv):
    return _load("lake_quality").main(argv)


def report_main(argv):
    return _load("report").main(argv)
