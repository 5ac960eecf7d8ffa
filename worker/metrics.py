"""What the worker counts for Prometheus, in the process's default registry: the web app's /metrics serves
it where the worker runs beside the web app (`referrals dev`), `referrals worker` on its own port
(REFERRALS_WORKER_METRICS_PORT). Labels name activities and channels, never a case."""

from __future__ import annotations

from prometheus_client import Counter

ACTIVITY_FAILURES = Counter(
    "referrals_activity_failures",
    "Activity attempts that raised (each retry counts), by activity",
    ["activity"],
)
# Every attempt to hand a message to an agency's gateway (activities/outbound.py), so an alert can fire on
# a gateway that keeps refusing before any case shows on the stalled list.
OUTBOUND_DELIVERIES = Counter(
    "referrals_outbound_deliveries",
    "Messages handed to an outbound channel, by channel and result (delivered, failed)",
    ["channel", "result"],
)
