"""Every process definition is consistent with itself, with the policy defaults, with its workflow and
with the document templates: a wrong name in a definition fails here, not in front of a clerk.

The tables the definitions are checked against are each read by one helper below (policy keys, the
policies and steps a workflow names, the documents it produces and the outcomes it closes with, the
document templates), so that moving a table into the definitions changes one function.
"""

from __future__ import annotations

import ast
import inspect
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from domain.process import CLOSE, END_TRACK, DocumentKind, NotBefore, Process
from domain.processes import POLICY_DEFAULTS, PROCESSES
from worker.registry import WORKFLOWS
from workflows import handover

ROOT = Path(__file__).resolve().parents[2]
DOC_DIR = ROOT / "ui" / "templates" / "docs"
SUPERVISOR_ACTIONS = {"urge", "extend", "reassign"}

CASES = [pytest.param(p, id=name) for name, p in PROCESSES.items()]


# ---------------------------------------------------------------------------- the tables, one helper each


def policy_keys() -> set[str]:
    """Every policy key with a default (the machinery's and each definition's, joined by the registry)."""
    return set(POLICY_DEFAULTS)


@cache
def _calls(module_source: str) -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(module_source)) if isinstance(n, ast.Call)]


def _workflow_source(process: Process) -> str:
    return inspect.getsource(inspect.getmodule(WORKFLOWS[process.name]))


def _method(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _arg(call: ast.Call, index: int, keyword: str) -> str | None:
    """A call's string literal argument, by position (after self) or keyword."""
    for kw in call.keywords:
        if kw.arg == keyword:
            return _literal(kw.value)
    return _literal(call.args[index]) if len(call.args) > index else None


def _definition_source(process: Process) -> str:
    return inspect.getsource(inspect.getmodule(process.check_start or process.steps[0].__class__))


def workflow_policies(process: Process) -> set[str]:
    """The policy keys the process's workflow and its start check ask by name (`.policy(...)`,
    `policy_key=...`) and its forms offer as defaults."""
    found = set()
    sources = {_workflow_source(process), _definition_source(process)}
    for call in (c for source in sources for c in _calls(source)):
        if _method(call) == "policy" and (key := _arg(call, 0, "key")):
            found.add(key)
        for kw in call.keywords:
            if kw.arg == "policy_key" and (key := _literal(kw.value)):
                found.add(key)
    fields = [*process.start_fields, *(f for a in all_actions(process) for f in a.fields)]
    return found | {f.default_policy for f in fields if f.default_policy}


def workflow_steps(process: Process) -> set[str]:
    """The steps the workflow opens by name: move(req, step), new_step(track, step), start_track(req, track,
    step)."""
    positions = {"move": (1, "to"), "new_step": (1, "step"), "start_track": (2, "step")}
    found = set()
    for call in _calls(_workflow_source(process)):
        where = positions.get(_method(call) or "")
        if where and (name := _arg(call, *where)):
            found.add(name)
    return found


def workflow_documents(process: Process) -> set[str]:
    """The document kinds the workflow issues: `<DOCUMENT>.spec(...)` on a DocumentKind it imports, and the
    transfer packet of the shared hand-over (workflows/handover.py) when it hands cases over."""

    def kinds(module) -> set[str]:
        source = inspect.getsource(module)
        found = set()
        for call in _calls(source):
            if _method(call) == "spec" and isinstance(call.func.value, ast.Name):
                kind = getattr(module, call.func.value.id, None)
                if isinstance(kind, DocumentKind):
                    found.add(kind.kind)
        return found

    module = inspect.getmodule(WORKFLOWS[process.name])
    found = kinds(module)
    if any(_method(c) == "hand_over" for c in _calls(inspect.getsource(module))):
        found |= kinds(handover)
    return found


def workflow_outcomes(process: Process) -> set[str]:
    """The outcomes the workflow closes cases with (`self.close(req, outcome)`), and the automatic one
    when the child reaches the process's age limit."""
    found = {o for c in _calls(_workflow_source(process)) if _method(c) == "close" and (o := _arg(c, 1, "outcome"))}
    return found | {process.aged_out_outcome}


def document_templates(process: Process) -> set[str]:
    """The document kinds of the definition with a layout of their own that is present on disk (any other
    kind is listed field by field by docs/generic.html)."""
    on_disk = {p.stem for p in DOC_DIR.glob("*.html")}
    return {d.kind for d in process.all_documents() if d.layout} & on_disk


# ---------------------------------------------------------------------------- helpers


def all_actions(process: Process):
    return [*(a for s in process.steps for a in s.actions), *process.case_actions]


def targets(process: Process) -> dict[str, set[str]]:
    """step → the steps its actions lead to."""
    return {s.name: {t for a in s.actions for t in a.to} for s in process.steps}


# ---------------------------------------------------------------------------- the checks


def test_every_process_has_its_workflow() -> None:
    assert set(WORKFLOWS) == set(PROCESSES)
    assert all(w.process is PROCESSES[name] for name, w in WORKFLOWS.items())


@pytest.mark.parametrize("process", CASES)
def test_names_are_unique(process: Process) -> None:
    steps = Counter(s.name for s in process.steps)
    assert [n for n, k in steps.items() if k > 1] == []
    for s in process.steps:
        actions = Counter(a.name for a in s.actions)
        assert [n for n, k in actions.items() if k > 1] == [], s.name
        assert not actions.keys() & SUPERVISOR_ACTIONS, s.name  # those are the supervisors'
    case_actions = Counter(a.name for a in process.case_actions)
    assert [n for n, k in case_actions.items() if k > 1] == []
    assert not case_actions.keys() & SUPERVISOR_ACTIONS
    assert len({o.name for o in process.outcomes}) == len(process.outcomes)


@pytest.mark.parametrize("process", CASES)
def test_every_policy_key_has_a_default(process: Process) -> None:
    keys = policy_keys()
    of_steps = {k for s in process.steps for k in (s.policy_key, *s.then) if k}
    counts = {s.count_key for s in process.steps if s.count_key}
    assert of_steps - keys == set()
    assert counts - keys == set()
    assert all(POLICY_DEFAULTS[k].value.unit == "count" for k in counts)
    # A process declares its own policies (the machinery's are shared).
    assert {p.key for p in process.policies} >= of_steps | counts
    assert workflow_policies(process) - keys == set()
    # A step's deadline is a duration; a count (sessions, a threshold) is asked by the workflow.
    assert all(POLICY_DEFAULTS[k].value.unit != "count" for k in of_steps)


@pytest.mark.parametrize("process", CASES)
def test_windows_and_not_before_fit_their_steps(process: Process) -> None:
    """A window is a number of days the process declares, on a step with a deadline; an action waiting for
    it is on such a step, and one waiting for the deadline on a step that has one (a policy or a date set)."""
    declared = {p.key for p in process.policies}
    for s in process.steps:
        waits = {a.not_before for a in s.actions if a.not_before}
        if s.window_key:
            assert s.window_key in declared and POLICY_DEFAULTS[s.window_key].value.unit == "d", s.name
            assert s.policy_key, f"{s.name}: a window opens before a deadline"
        assert (NotBefore.window in waits) == bool(s.window_key), s.name
        if NotBefore.deadline in waits:
            assert s.due_label != "办理期限", f"{s.name}: say what the date is"
        # Something can always be done on a step: not every action waits.
        assert any(a.not_before is None for a in s.actions), s.name
    happened = [f for s in process.steps for a in s.actions for f in a.fields if f.happened]
    assert happened and all(f.kind == "date" for f in happened)


@pytest.mark.parametrize("process", CASES)
def test_every_action_leads_to_a_step_of_the_process(process: Process) -> None:
    names = {s.name for s in process.steps}
    for s in process.steps:
        for a in s.actions:
            assert a.to, f"{s.name}.{a.name} leads nowhere"
            assert set(a.to) - names - {"", CLOSE, END_TRACK} == set(), f"{s.name}.{a.name}: {a.to}"
            if END_TRACK in a.to:  # only a side track ends with the case going on
                assert s.track != "main", f"{s.name}.{a.name}"
    for a in process.case_actions:  # a step, or the case closes (an application withdrawn, whatever its step)
        assert a.to and set(a.to) <= names | {CLOSE}, a.name


@pytest.mark.parametrize("process", CASES)
def test_the_workflow_opens_only_steps_of_its_process(process: Process) -> None:
    opened = workflow_steps(process)
    assert opened, "the scan found no step: the helper no longer reads the workflow"
    assert opened - {s.name for s in process.steps} == set()


@pytest.mark.parametrize("process", CASES)
def test_every_start_names_a_main_step(process: Process) -> None:
    assert process.starts
    for o in process.starts:
        assert process.has_step(o.step), o.step
        assert process.step(o.step).track == "main", o.step
        assert o.agency_types and o.label


@pytest.mark.parametrize("process", CASES)
def test_every_step_is_reachable_from_a_start_or_a_case_action(process: Process) -> None:
    edges = targets(process)
    seen: set[str] = set()
    todo = [s for o in process.starts for s in (o.step, *o.opens_too)] + [t for a in process.case_actions for t in a.to]
    while todo:
        name = todo.pop()
        if name in seen or name not in edges:
            continue
        seen.add(name)
        todo.extend(edges[name])
    assert {s.name for s in process.steps} - seen == set()


@pytest.mark.parametrize("process", CASES)
def test_every_step_can_end(process: Process) -> None:
    """From every step some path reaches the close (or the end of its side track)."""
    edges = targets(process)
    ending = {n for n, to in edges.items() if to & {CLOSE, END_TRACK}}
    changed = True
    while changed:
        more = {n for n, to in edges.items() if to & ending} - ending
        ending |= more
        changed = bool(more)
    assert set(edges) - ending == set()


@pytest.mark.parametrize("process", CASES)
def test_every_outcome_is_used_and_every_close_is_an_outcome(process: Process) -> None:
    outcomes = {o.name for o in process.outcomes}
    used = workflow_outcomes(process)
    assert outcomes - used == set(), "an outcome the workflow never closes with"
    assert used - outcomes == set(), "a close with an outcome the definition does not list"
    assert all(o.label for o in process.outcomes)


@pytest.mark.parametrize("process", CASES)
def test_every_document_has_its_template(process: Process) -> None:
    produced = workflow_documents(process)
    assert produced, "the scan found no document: the helper no longer reads the workflow"
    declared = {d.kind for d in process.all_documents()}
    assert produced - declared == set(), "a document the definition does not declare"
    assert declared - produced == set(), "a declared document the workflow never issues"
    assert {d.kind for d in process.all_documents() if d.layout} - document_templates(process) == set()
    assert all(d.title and d.field_labels for d in process.all_documents())


@pytest.mark.parametrize("process", CASES)
def test_steps_name_their_track_and_holders(process: Process) -> None:
    for s in process.steps:
        assert s.track in process.tracks, s.name
        assert s.responsible and s.label and s.actions, s.name
    if process.report_by:
        assert process.report_by in dict(process.summary_fields)
