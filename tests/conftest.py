"""Shared fixtures. Tests that need the real data read it through the one data setting
($BABELIR_DATA) and FAIL — never skip — when it is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from babelir.settings import DATA_ENV


@pytest.fixture(scope="session")
def data_dir() -> Path:
    value = os.environ.get(DATA_ENV)
    if not value:
        pytest.fail(f"${DATA_ENV} is not set: point it at the data folder (CI: ../shared/data)")
    path = Path(value)
    if not (path / "lareqa" / "xquad-r" / "en.json").is_file():
        pytest.fail(f"${DATA_ENV}={value} does not hold lareqa/xquad-r/en.json")
    return path
