"""Activity interceptors: one marks a case whose automation is failing (an activity retrying again and
again), so that it shows on the supervisors' stalled list, clears the mark when the activity succeeds
again, and counts every failed attempt for /metrics; the other keeps what a case holds out of a database
error's text."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities.cases import mark_automation
from db.errors import without_data
from domain.ids import case_no_of
from worker.metrics import ACTIVITY_FAILURES

log = logging.getLogger(__name__)
FAILING_AFTER_ATTEMPTS = 3


class AutomationHealthInterceptor(Interceptor):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.sf = session_factory

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self.sf)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, sf: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(next)
        self.sf = sf

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        case_no = case_no_of(info.workflow_id)
        try:
            result = await super().execute_activity(input)
        except Exception as e:
            ACTIVITY_FAILURES.labels(info.activity_type).inc()
            if case_no and info.attempt >= FAILING_AFTER_ATTEMPTS:
                # No personal data: the activity's name and the error's type only.
                error = f"{info.activity_type}: {type(e).__name__} (第{info.attempt}次重试)"
                await self._mark(case_no, info.activity_type, error)
            raise
        if case_no and info.attempt >= FAILING_AFTER_ATTEMPTS:
            await self._mark(case_no, info.activity_type, None)
        return result

    async def _mark(self, case_no: str, activity_type: str, error: str | None) -> None:
        try:
            await mark_automation(self.sf, case_no, activity_type, error)
        except Exception:  # the database itself may be what is failing
            log.warning("could not record the automation state of a case", exc_info=True)


class DatabaseErrorsWithoutData(Interceptor):
    """A database error's text quotes what the statement carried (the server's DETAIL: "Failing row
    contains (...)", a key's value): an activity fails instead with the error's type and SQLSTATE, so that
    neither the failure Temporal keeps (and shows on a retrying activity) nor the worker's log of it holds
    a case's facts. Still retried, as the error was."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _WithoutData(next)


class _WithoutData(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except (SQLAlchemyError, psycopg.Error) as e:
            raise database_failure(e) from None


def database_failure(e: SQLAlchemyError | psycopg.Error) -> ApplicationError:
    kind, sqlstate = without_data(e)
    # The type shows in front of the message ("CheckViolation: database error (SQLSTATE 23514)").
    return ApplicationError("database error" + (f" (SQLSTATE {sqlstate})" if sqlstate else ""), type=kind)
