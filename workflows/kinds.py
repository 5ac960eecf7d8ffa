"""Kinds that are a definition only: a process whose definition names another process's workflow module as
its orchestration (`Process.orchestration`, e.g. the disability subsidies naming the certification's) runs
on that module's workflow code, under a workflow type of its own (its name), with its own definition."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.messages import CaseInput, CaseResult
    from domain.processes import PROCESSES


def kind_workflows(base: type) -> dict[str, type]:
    """A workflow class, subclass of `base`, for every other process whose orchestration is `base`'s module,
    by class name: the module puts them in its namespace, so that the worker's registry finds them there and
    the workflow sandbox, re-importing the module, finds the same classes again."""
    module = base.__module__
    short = module.rsplit(".", 1)[-1]
    out: dict[str, type] = {}
    for process in PROCESSES.values():
        if process.orchestration != short or process is base.process:  # type: ignore[attr-defined]
            continue
        name = f"{base.__name__}For_{process.name}"

        # `self` unannotated, as in the base: the SDK checks that run and __init__ take the same parameters.
        async def run(self, inp: CaseInput) -> CaseResult:
            return await self._run(inp)

        run.__qualname__ = f"{name}.run"
        run.__module__ = module  # the SDK looks for the run method in the class's own module
        cls = type(name, (base,), {"process": process, "run": workflow.run(run), "__module__": module})
        cls.__qualname__ = name
        out[name] = workflow.defn(name=process.name)(cls)
    return out
