"""The process diagram (ui/diagram.py): every step drawn, the current one highlighted, arrows for the
definition's transitions, valid and escaped SVG."""

from __future__ import annotations

from xml.etree import ElementTree

from domain.enums import AgencyType
from domain.process import CLOSE, END_TRACK, Action, Process, StartOption, Step
from domain.processes.guardianship import GUARDIANSHIP
from ui.diagram import process_svg, wrap_label

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)


def groups(root: ElementTree.Element, cls: str) -> list[ElementTree.Element]:
    return [g for g in root.iter(f"{NS}g") if cls in (g.get("class") or "").split()]


def texts(g: ElementTree.Element) -> str:
    return "".join(t.text or "" for t in g.iter(f"{NS}tspan"))


def test_every_step_and_the_close_node_appear() -> None:
    root = parse(process_svg(GUARDIANSHIP))
    assert root.tag == f"{NS}svg"
    title = root.find(f"{NS}title")
    assert title is not None and title.text == "监护干预流程图"
    steps = {g.get("data-step"): texts(g) for g in groups(root, "step")}
    assert set(steps) == {s.name for s in GUARDIANSHIP.steps}
    for s in GUARDIANSHIP.steps:
        assert steps[s.name] == s.label
    assert [texts(g) for g in groups(root, "close")] == ["结案"]
    assert [texts(g) for g in groups(root, "end")] == ["分支结束"]
    assert [texts(g) for g in groups(root, "any")] == ["任一环节"]
    labels = "".join(t.text or "" for t in root.iter(f"{NS}text"))
    assert "主流程" in labels and "儿童安全（临时监护）" in labels


def test_current_step_is_highlighted_and_others_are_not() -> None:
    root = parse(process_svg(GUARDIANSHIP, current={"admonition_followup"}, done={"admonition"}))
    by_step = {g.get("data-step"): g for g in groups(root, "step")}
    current = by_step["admonition_followup"]
    assert "current" in current.get("class").split()
    assert current.get("aria-current") == "step"
    assert "done" in by_step["admonition"].get("class").split()
    for name, g in by_step.items():
        if name != "admonition_followup":
            assert "current" not in g.get("class").split()
            assert g.get("aria-current") is None
    assert len(groups(root, "current")) == 1


def test_a_step_both_current_and_passed_shows_as_current() -> None:
    root = parse(process_svg(GUARDIANSHIP, current={"monitoring"}, done={"monitoring", "admonition"}))
    monitoring = next(g for g in groups(root, "step") if g.get("data-step") == "monitoring")
    assert monitoring.get("class").split() == ["node", "step", "current"]


def test_arrows_follow_the_definitions_transitions() -> None:
    root = parse(process_svg(GUARDIANSHIP))
    edges = {(g.get("data-from"), g.get("data-to")): g for g in groups(root, "edge")}
    expected = set()
    for s in GUARDIANSHIP.steps:
        for a in s.actions:
            for to in a.to:
                target = s.name if to == "" else (f"{END_TRACK}:{s.track}" if to == END_TRACK else to)
                expected.add((s.name, target))
    assert expected <= set(edges)
    assert ("admonition", "admonition_followup") in edges
    assert ("monitoring", CLOSE) in edges
    assert ("guardianship_revocation", "temporary_guardianship") in edges  # a back edge
    # every arrow has a path with an arrow head, and the action's label as its tooltip
    for g in edges.values():
        path = g.find(f"{NS}path")
        assert path is not None and path.get("d", "").startswith("M") and path.get("marker-end")
    tip = edges[("admonition", "admonition_followup")].find(f"{NS}title")
    assert tip is not None and tip.text == "记录劝诫"
    # case-level actions: dashed, from the 任一环节 node
    dashed = groups(root, "case-action")
    assert {(g.get("data-from"), g.get("data-to")) for g in dashed} == {
        ("@any", "temporary_guardianship_intake"),
        ("@any", "handover"),
    }
    assert all(g.find(f"{NS}path").get("stroke-dasharray") for g in dashed)


def test_layout_reads_left_to_right_and_fits() -> None:
    root = parse(process_svg(GUARDIANSHIP))
    x = {g.get("data-step"): float(g.find(f"{NS}rect").get("x")) for g in groups(root, "node")}
    order = [
        "admonition",
        "admonition_followup",
        "police_report",
        "police_decision",
        "reprimand",
        "family_education_guidance",
    ]
    assert [x[s] for s in order] == sorted(x[s] for s in order)
    assert x[CLOSE] == max(x.values())
    assert x["temporary_guardianship_intake"] < x["temporary_guardianship"] < x["guardianship_revocation"]
    width, height = float(root.get("width")), float(root.get("height"))
    assert width <= 1300 and height <= 700


def test_text_is_escaped() -> None:
    step = Step(
        "a",
        "甲<&>",
        (AgencyType.police,),
        None,
        actions=(Action("go", "结束\"'<x>", to=(CLOSE,)),),
        description="<script>",
    )
    process = Process(
        name="p<1>",
        label="测试&流程",
        code="T",
        orchestration="test",
        steps=(step,),
        starts=(StartOption("a", (AgencyType.police,), "开始"),),
    )
    svg = process_svg(process, current={"a"})
    root = parse(svg)
    assert "<script>" not in svg and "<x>" not in svg
    assert texts(groups(root, "step")[0]) == "甲<&>"
    assert root.find(f"{NS}title").text == "测试&流程流程图"


def test_wrap_label() -> None:
    assert wrap_label("训诫") == ["训诫"]
    assert wrap_label("拒不接受指导的处理") == ["拒不接受指导", "的处理"]
    assert wrap_label("撤销监护人资格诉讼") == ["撤销监护人", "资格诉讼"]
    assert all(len(line) <= 6 for line in wrap_label("一二三四五六七八九十十一十二十三"))


def test_a_process_with_crossing_tracks_and_loops_draws() -> None:
    police = (AgencyType.police,)

    def step(name: str, to: tuple[str, ...], track: str = "main") -> Step:
        return Step(
            name,
            f"环节{name}",
            police,
            None,
            track=track,
            actions=tuple(Action(f"{name}-{i}", f"去{t or '原地'}", to=(t,)) for i, t in enumerate(to)),
        )

    process = Process(
        name="synthetic",
        label="合成流程",
        code="S",
        orchestration="test",
        tracks={"main": "主流程", "side": "支线", "third": "第三条"},
        steps=(
            step("a", ("b", "x", "")),
            step("b", ("c", "a", CLOSE)),
            step("c", ("a", "b", "y", CLOSE)),
            step("x", ("y", END_TRACK, "b"), "side"),
            step("y", ("x", CLOSE), "side"),
            step("z", (END_TRACK,), "third"),
        ),
        starts=(StartOption("a", police, "开始"),),
        case_actions=(Action("jump", "跳转", to=("z", "c")),),
    )
    root = parse(process_svg(process, current={"b", "y"}))
    assert {g.get("data-step") for g in groups(root, "current")} == {"b", "y"}
    edges = {(g.get("data-from"), g.get("data-to")) for g in groups(root, "edge")}
    assert {("a", "x"), ("c", "y"), ("x", "b"), ("y", "x"), ("a", "a"), ("@any", "z")} <= edges
    assert len(groups(root, "end")) == 2  # one 分支结束 per track that ends
    for g in groups(root, "edge"):
        d = g.find(f"{NS}path").get("d")
        assert "nan" not in d.lower()
