"""Patches a run takes as given.

Every `workflow.patched` a run asks for the first time records a marker and an upsert of the
TemporalChangeVersion search attribute: on the dev server about 3 ms of Temporal's CPU each, as much again as
a bare Update (issue 13), and a new case asked three at its start and one more at most actions. A baseline
is one marker standing for many patches: a run that records it (every run started by this code) takes them
all as given, without a marker each; a run recorded before it (no such marker) asks each patch as it did.

A baseline never changes once released: a run recorded with it takes exactly its patches as given on every
replay. A patch added later is asked on its own (`workflow.patched`) until a newer baseline, listed first,
takes it in."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow


@dataclass(frozen=True)
class Baseline:
    marker: str
    given: frozenset[str]


BASELINES: tuple[Baseline, ...] = (
    Baseline(
        "patch-baseline-1",
        frozenset(
            {
                "certification-education-in-summary",
                "certification-imported-supplement-waits",
                "completion-counts-from-policy",
                "continue-as-new-at-history-limit",
                "extension-bound",
                "extension-rule-per-step",
                "followup-visit-is-contact",
                "guidance-order-asked-once",
                "guidance-progress-in-timeline",
                "happened-dates-within-the-step",
                "hour-level-notifications-sent-out",
                "long-term-guardianship-ends-safety-track",
                "new-step-inputs-in-one-local-activity",
                "new-steps-go-to-active-agencies",
                "next-step-counts-from-the-date-done",
                "outbound-delivery-outlives-the-run",
                "penalty-decision-names-penalty",
                "police-of-residence",
                "scheduled-steps-open-a-window-before-their-date",
                "timeline-and-lookups-in-the-worker",
            }
        ),
    ),
)


def given_patches() -> frozenset[str]:
    """The patches the current run takes as given; asked once, when the run begins, newest baseline first (a
    new run records only the newest)."""
    for baseline in BASELINES:
        if workflow.patched(baseline.marker):
            return baseline.given
    return frozenset()
