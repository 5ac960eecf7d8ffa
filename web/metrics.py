"""The business gauges of /metrics, counted in PostgreSQL when Prometheus scrapes (a GROUP BY each, no rows
loaded): open cases by process and main step, overdue steps by process and escalation level, open cases
whose automation is failing. They are read before the exposition is written, since a prometheus-client
Collector is called synchronously and the database is asynchronous."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Case, CaseStep


@dataclass(frozen=True)
class StepCount:
    process: str
    step: str
    cases: int


@dataclass(frozen=True)
class OverdueCount:
    process: str
    level: int
    steps: int


@dataclass(frozen=True)
class Snapshot:
    open_cases: list[StepCount]
    overdue: list[OverdueCount]
    failing: dict[str, int]  # process → open cases whose automation is failing


async def snapshot(session: AsyncSession, now: datetime | None = None) -> Snapshot:
    now = now or datetime.now(UTC)
    is_open = Case.status == "open"
    open_rows = await session.execute(
        select(Case.process, Case.main_step, func.count()).where(is_open).group_by(Case.process, Case.main_step)
    )
    overdue_rows = await session.execute(
        select(Case.process, CaseStep.escalation_level, func.count())
        .join(CaseStep, CaseStep.case_id == Case.id)
        .where(is_open, CaseStep.due_at < now)
        .group_by(Case.process, CaseStep.escalation_level)
    )
    failing_rows = await session.execute(
        select(Case.process, func.count()).where(is_open, Case.automation_error.is_not(None)).group_by(Case.process)
    )
    return Snapshot(
        open_cases=[StepCount(p, s or "", n) for p, s, n in open_rows],
        overdue=[OverdueCount(p, lvl, n) for p, lvl, n in overdue_rows],
        failing={p: n for p, n in failing_rows},
    )


class BusinessCollector(Collector):
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        cases = GaugeMetricFamily(
            "referrals_open_cases", "Open cases by process and main step", labels=["process", "step"]
        )
        for c in self.snap.open_cases:
            cases.add_metric([c.process, c.step], c.cases)
        yield cases
        overdue = GaugeMetricFamily(
            "referrals_overdue_steps",
            "Steps of open cases past their deadline, by process and escalation level (0: not yet escalated)",
            labels=["process", "level"],
        )
        for o in self.snap.overdue:
            overdue.add_metric([o.process, str(o.level)], o.steps)
        yield overdue
        failing = GaugeMetricFamily(
            "referrals_cases_automation_failing", "Open cases whose automation keeps failing", labels=["process"]
        )
        for process, n in self.snap.failing.items():
            failing.add_metric([process], n)
        yield failing


def exposition(snap: Snapshot) -> bytes:
    """The process's own metrics (requests, activity failures, runtime) and the business gauges."""
    business = CollectorRegistry(auto_describe=False)
    business.register(BusinessCollector(snap))
    return generate_latest(REGISTRY) + generate_latest(business)
