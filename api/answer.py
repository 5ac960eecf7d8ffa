"""What every /api/v1 answer model shares: a model refuses keys it does not declare (a shape that drifts
from its declaration fails its tests rather than losing a key), and times stay the ISO 8601 strings the
API writes, declared with their format."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Day = Annotated[str, Field(json_schema_extra={"format": "date"})]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
