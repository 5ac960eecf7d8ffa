"""CPU time of the parts of a running system, from Linux /proc: a process with its live descendants and
the children it has reaped (a PostgreSQL backend that ended), so that a benchmark can say which part of
a path spends the time, measured."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from its state on (the command name, in parentheses, may hold spaces)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


# Indexes in _fields: ppid, then utime, stime, cutime, cstime (fields 4 and 14-17 of proc(5)).
_PPID, _UTIME, _STIME, _CUTIME, _CSTIME = 1, 11, 12, 13, 14


def _table() -> dict[int, list[str]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (f := _fields(int(entry.name))) is not None:
            out[int(entry.name)] = f
    return out


def tree_seconds(root: int, table: dict[int, list[str]] | None = None) -> float:
    """CPU seconds of `root`, its live descendants and every child they reaped."""
    table = _table() if table is None else table
    children: dict[int, list[int]] = defaultdict(list)
    for pid, f in table.items():
        children[int(f[_PPID])].append(pid)
    ticks, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if (f := table.get(pid)) is not None:
            ticks += sum(int(f[i]) for i in (_UTIME, _STIME, _CUTIME, _CSTIME))
            todo += children[pid]
    return ticks / TICK


def own_seconds(pid: int) -> float:
    """CPU seconds of the process alone (not its children): the benchmark's own client side."""
    f = _fields(pid)
    return 0.0 if f is None else (int(f[_UTIME]) + int(f[_STIME])) / TICK


def child_with(parent: int, word: str) -> int | None:
    """A child of `parent` whose command line contains `word` (the Temporal dev server the SDK started)."""
    for pid, f in _table().items():
        if int(f[_PPID]) == parent:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if word.encode() in cmdline:
                return pid
    return None


def postmaster(pgdata: Path) -> int | None:
    """The PostgreSQL server's pid, from its data directory."""
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Parts:
    """Named parts of the system, each a function of the process table giving its CPU seconds so far."""

    def __init__(self) -> None:
        self.parts: dict[str, Callable[[dict[int, list[str]]], float]] = {}

    def tree(self, name: str, *pids: int | None) -> None:
        live = [p for p in pids if p is not None]
        self.parts[name] = lambda table: sum(tree_seconds(p, table) for p in live)

    def own(self, name: str, pid: int) -> None:
        self.parts[name] = lambda _table: own_seconds(pid)

    def now(self) -> dict[str, float]:
        table = _table()
        return {name: read(table) for name, read in self.parts.items()}
