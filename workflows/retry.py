"""Timeouts and retries of the activities the case workflows call."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Writes must land eventually: retry without limit, backing off to one minute between tries.
WRITE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# A local activity tries a few times in the worker before it is handed to the server (workflows/steps.py).
LOCAL_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_attempts=3)
# The outbound channel: a gateway that is down is tried again, backing off to five minutes, for two days.
OUTBOUND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
OUTBOUND_WITHIN = timedelta(days=2)
