"""Where an admin opens a case's workflow in the Temporal UI (its payloads are encrypted there; the web
app's codec endpoint decodes them for admins)."""

from __future__ import annotations

from urllib.parse import quote

from config.settings import Settings
from domain.ids import workflow_id


def temporal_url(settings: Settings, case_no: str) -> str:
    ns = quote(settings.temporal_namespace, safe="")
    return f"{settings.temporal_ui}/namespaces/{ns}/workflows/{quote(workflow_id(case_no), safe='')}"
