"""The Temporal Schedules the system runs: one per county for its six-monthly registry refresh
(domain/refresh.py), created once, idempotently, whenever a worker starts."""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)

from domain.refresh import WORKFLOW_TYPE, RefreshInput, schedule_id, workflow_id_prefix

# At the start of each half-year (1 January, 1 July), midnight in Changzhi.
HALF_YEARS = ScheduleCalendarSpec(
    month=(ScheduleRange(1), ScheduleRange(7)),
    day_of_month=(ScheduleRange(1),),
    hour=(ScheduleRange(0),),
    comment="每半年更新一次流动儿童台账",
)


def refresh_schedule(county: str, task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WORKFLOW_TYPE, RefreshInput(county=county), id=workflow_id_prefix(county), task_queue=task_queue
        ),
        spec=ScheduleSpec(calendars=[HALF_YEARS], time_zone_name="Asia/Shanghai"),
        # A half-year's refresh may still be open (overdue) when the next one opens: both run.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
    )


async def ensure_refresh_schedules(client: Client, task_queue: str, *, counties: tuple[str, ...]) -> int:
    """Creates each county's refresh schedule where it does not exist yet, opening the current half-year's
    refresh at once; returns how many were created (0 when they all exist: a restart changes nothing). The
    counties are the served city's (Settings.served)."""
    created = 0
    for county in counties:
        try:
            await client.create_schedule(
                schedule_id(county), refresh_schedule(county, task_queue), trigger_immediately=True
            )
        except ScheduleAlreadyRunningError:
            continue
        created += 1
    return created
