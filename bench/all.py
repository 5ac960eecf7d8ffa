"""`make bench`: every benchmark of issue 13, one after the other (each starts and stops its own servers, so
that they do not load the machine at the same time), their output as it comes, then the goals of issue 13's
table, one line each with its ratio against the bare limit measured in the same run, and the measured
worker memory and history growth.

- bench/engine.py: starts and actions against the bare engine, with 1, 2 and 4 worker processes;
- bench/lists.py: the read paths at city scale, statement by statement;
- bench/reads.py: the dashboards (month report, stalled lists, case list) against hand-written SQL;
- bench/rss.py: a worker's RSS with 10,000 open cases;
- bench/history.py: history events per simulated year of long cases.

    .venv/bin/python -m bench.all [--engine "ARGS"] [--lists "ARGS"] [--reads "ARGS"] [--rss "ARGS"]
                                  [--history "ARGS"] [--only engine,reads,...]
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHES = ("engine", "lists", "reads", "rss", "history")

# The lines each benchmark prints for a goal or a measured figure (and only those).
GOAL_LINES = {
    "engine": re.compile(r"^\[\d+ workers?\] .* goal .*MET"),
    "reads": re.compile(r"(NOT MET|MET)  \["),
    "rss": re.compile(r"^worker RSS "),
    "history": re.compile(r"^history "),
}
# Issue 13's table in its order: a goal line goes under the first of these its text contains.
TABLE = (
    "starts/s at concurrency 10",
    "starts/s at concurrency 50",
    "one action, sequential",
    "actions at concurrency",
    "city month report",
    "city stalled list",
    "county stalled list",
    "city case list page 1",
    "worker RSS",
    "history",
)


def run_one(name: str, args: str) -> tuple[int, list[str]]:
    """Runs bench/<name>.py, printing its output as it comes; returns its exit code and its goal lines."""
    print(f"\n=== bench.{name} {args}".rstrip(), flush=True)
    cmd = [sys.executable, "-m", f"bench.{name}", *shlex.split(args)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    found = []
    pattern = GOAL_LINES.get(name)
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if pattern and pattern.search(line):
            found.append(line.rstrip())
    return proc.wait(), found


def place(line: str) -> int:
    return next((i for i, what in enumerate(TABLE) if what in line), len(TABLE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in BENCHES:
        parser.add_argument(f"--{name}", default="", metavar="ARGS", help=f"options passed to bench.{name}")
    parser.add_argument("--only", default=",".join(BENCHES), help="which to run (default all)")
    args = parser.parse_args()
    chosen = [n for n in args.only.split(",") if n]
    unknown = sorted(set(chosen) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(unknown)}")
    lines: list[str] = []
    failed = []
    for name in BENCHES:
        if name in chosen:
            code, found = run_one(name, getattr(args, name))
            lines += found
            if code:
                failed.append(f"bench.{name} exited {code}")
    print("\n=== issue 13: one line a goal (ratio against the bare limit measured in the same run)")
    for line in sorted(lines, key=place):  # sorted() keeps the worker counts' order within a goal
        print(line)
    missing = [what for what in TABLE if not any(what in line for line in lines)]
    if missing:
        print("not measured in this run: " + "; ".join(missing))
    if failed:
        print("FAILED: " + "; ".join(failed))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
