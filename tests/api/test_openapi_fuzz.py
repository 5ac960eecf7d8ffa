"""schemathesis over every /api/v1 operation of the real app (PostgreSQL, the Temporal dev server, a
worker), once with a demo user's token and once with none: no answer is a 5xx, and every answer's
status, content type and body are what the OpenAPI declares.

The app is served by uvicorn on the test's event loop (where its database engine, Temporal client and
worker live); schemathesis drives it over HTTP from a thread, so the loop keeps serving meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.generation.hypothesis.examples import generate_one
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Live, make_token

EXAMPLES = 6  # per operation, generation mode and caller: bounded, the whole file in about a minute
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@asynccontextmanager
async def served(app: object) -> AsyncIterator[str]:
    """The app on a free local port, on this event loop."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="error"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # pytest keeps Ctrl-C
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to wait on)
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Run:
    calls: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def fuzz(schema: schemathesis.BaseSchema, base_url: str, headers: dict[str, str]) -> Run:
    """Every operation in both generation modes; a failing check is recorded with its reproduction."""
    run = Run()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in MODES:
            check = one_operation(operation, mode, base_url, headers, run)
            try:
                check()
            except Unsatisfiable:
                pass  # nothing to send wrong: no parameters, or only a path segment that takes any text
            except Exception as e:  # the first failure of this operation and mode, with its curl
                run.failures.append(f"{operation.label} [{mode.value}]: {str(e)[:1500]}")
    return run


def one_operation(
    operation: object, mode: GenerationMode, base_url: str, headers: dict[str, str], run: Run
) -> Callable[[], None]:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))  # type: ignore[attr-defined]
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        run.calls += 1
        run.statuses[response.status_code] = run.statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS)

    if mode is GenerationMode.POSITIVE:  # the examples the description gives are sent first, as they are
        for strategy in operation.get_strategies_from_examples():  # type: ignore[attr-defined]
            check = example(case=generate_one(strategy))(check)
    return check


@pytest.mark.parametrize("username", ["luzhou-vc1", "admin", None], ids=["clerk", "admin", "anonymous"])
async def test_every_operation_answers_as_declared(live: Live, username: str | None) -> None:
    headers = {"Authorization": f"Bearer {await make_token(live.db, username)}"} if username else {}
    async with served(live.app) as base_url:
        schema = schemathesis.openapi.from_dict(live.app.openapi())  # type: ignore[attr-defined]
        began = time.monotonic()
        run = await asyncio.to_thread(fuzz, schema, base_url, headers)
        took = time.monotonic() - began
    operations = sum(1 for _ in schema.get_all_operations())
    print(
        f"\n{username or 'anonymous'}: {run.calls} calls over {operations} operations in {took:.0f} s: {run.statuses}"
    )
    assert operations >= 30  # every /api/v1 operation is in the description
    assert not run.failures, "\n\n".join(run.failures)
    if username is None:
        assert set(run.statuses) == {401}, run.statuses  # nothing is answered before authentication
    else:
        assert any(200 <= s < 300 for s in run.statuses), run.statuses  # the caller got through
