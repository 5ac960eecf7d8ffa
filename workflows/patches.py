"""Patches a run takes as given.

Every `workflow.patched` a run asks for the first time records a marker and an upsert of the
TemporalChangeVersion search attribute: on the dev server about 3 ms of Temporal's CPU each, as much again as
a bare Update (issue 13), and a new case asked three at its start and one more at most actions. A baseline
is one marker standing for many patches: a run that records it (every run started by this code) takes them
all as given, without a marker each; a run recorded before it (no such marker) asks each patch as it did.

A baseline never changes once released, nor does what a workflow class adds to it (`baseline_patches`): a
run recorded with it takes exactly those patches as given on every replay. A patch added later is asked on
its own (`workflow.patched`) until a newer baseline, listed first, takes it in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from temporalio import workflow


@dataclass(frozen=True)
class Baseline:
    marker: str
    given: frozenset[str]  # the shared machinery's patches; each workflow class adds its own (`own` below)


BASELINE_1 = "patch-baseline-1"
BASELINE_2 = "patch-baseline-2"
BASELINE_3 = "patch-baseline-3"

_GIVEN_1 = frozenset(
    {
        "completion-counts-from-policy",
        "continue-as-new-at-history-limit",
        "extension-bound",
        "extension-rule-per-step",
        "happened-dates-within-the-step",
        "hour-level-notifications-sent-out",
        "new-step-inputs-in-one-local-activity",
        "new-steps-go-to-active-agencies",
        "next-step-counts-from-the-date-done",
        "outbound-delivery-outlives-the-run",
        "scheduled-steps-open-a-window-before-their-date",
        "timeline-and-lookups-in-the-worker",
    }
)

# Newest first: a new run records the first.
BASELINES: tuple[Baseline, ...] = (
    Baseline(BASELINE_3, _GIVEN_1 | {"lookups-with-the-new-step-inputs", "a-move-written-with-its-step-inputs"}),
    Baseline(BASELINE_2, _GIVEN_1 | {"lookups-with-the-new-step-inputs"}),
    Baseline(BASELINE_1, _GIVEN_1),
)


def own_patches(since: str, patches: set[str]) -> Mapping[str, frozenset[str]]:
    """A workflow class's `baseline_patches`: the patches of its own module that the baseline `since` and every
    later one take as given (read-only: a released baseline never changes)."""
    markers = [b.marker for b in BASELINES]
    assert since in markers, since
    return MappingProxyType({m: frozenset(patches) for m in markers[: markers.index(since) + 1]})


def given_patches(own: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """The patches the current run takes as given: a baseline's shared ones and, by its marker, those `own`
    names for the workflow's own module. Asked once, when the run begins, newest baseline first (a new run
    records only the newest)."""
    for baseline in BASELINES:
        if workflow.patched(baseline.marker):
            return baseline.given | own.get(baseline.marker, frozenset())
    return frozenset()
