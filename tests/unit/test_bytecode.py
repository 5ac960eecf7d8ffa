"""The workflow modules have bytecode even where Python writes none (PYTHONDONTWRITEBYTECODE): the sandbox,
which runs them afresh for every new workflow instance, then loads them without compiling their source."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import pytest

import workflows
from worker.bytecode import precompile_workflows


def test_the_workflow_modules_load_from_bytecode_where_python_writes_none(monkeypatch: pytest.MonkeyPatch) -> None:
    source = Path(workflows.__file__).parent / "guardianship.py"
    Path(importlib.util.cache_from_source(str(source))).unlink(missing_ok=True)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    precompile_workflows.cache_clear()
    assert precompile_workflows() is True

    loader = importlib.machinery.SourceFileLoader("workflows.guardianship", str(source))

    def compiled_from_source(*args: object, **kwargs: object) -> None:
        pytest.fail("the module was compiled from its source")

    monkeypatch.setattr(loader, "source_to_code", compiled_from_source)
    assert loader.get_code("workflows.guardianship") is not None
