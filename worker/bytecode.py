"""Bytecode for the workflow modules, which the sandbox runs afresh for every new workflow instance. Where
Python writes no bytecode on import (PYTHONDONTWRITEBYTECODE, as on this machine and in many containers)
it still reads it, but there is none: the sandbox would compile each module from source every time (py-spy
on a loaded worker: `source_to_code`, about 6% of its CPU). Written once when the worker is built; a source
tree that may not be written stays as it was, and the sandbox compiles as before."""

from __future__ import annotations

import compileall
import functools
import sys
from pathlib import Path

import workflows


@functools.cache
def precompile_workflows() -> bool:
    """Whether bytecode was written (False: Python writes it itself on import, or it could not be)."""
    if not sys.dont_write_bytecode:
        return False
    return bool(compileall.compile_dir(Path(workflows.__file__).parent, quiet=2))
