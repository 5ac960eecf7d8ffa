"""The process diagram: a process definition drawn as SVG, with the case's current steps highlighted.

Layout: one horizontal band per track; within a band, columns by a longest-path layering of the graph
of steps (an edge to a step defined at or before its source is a back edge and is ignored for the
layering), several steps of one column stacked in rows. Arrows are routed orthogonally through the
gaps between columns and along lanes above a band (back edges) or below it (long forward edges and
edges between bands), so they never cross a box. Case-level actions are dashed arrows from a small
"任一环节" node. Pure: no I/O; every text is escaped.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from math import ceil
from xml.sax.saxutils import escape

from domain.enums import AGENCY_TYPE_LABELS
from domain.process import CLOSE, END_TRACK, Process

ANY = "@any"

# Geometry (px)
LABEL_H = 16  # the band's label, above its lanes
W, H = 100, 44  # a step's box
COL_GAP = 40
ROW_GAP = 24
LANE = 7
MARGIN = 12
FONT = 13

# Colours (presentation attributes, so the SVG is styled wherever it is shown)
STYLE = {
    "step": ("#ffffff", "#64748b", "1.2"),
    "done": ("#e7f0e9", "#6b8f71", "1.2"),
    "current": ("#fff1b8", "#b45309", "3"),
    "close": ("#334155", "#334155", "1.2"),
    "end": ("#f1f5f9", "#64748b", "1.2"),
    "any": ("#f8fafc", "#64748b", "1.2"),
}
EDGE_COLOUR = "#475569"


@dataclass
class _Node:
    key: str
    label: str
    kind: str  # step | close | end | any
    band: int
    index: int
    tip: str = ""
    loop: bool = False  # has an action that stays on the step (drawn at the top right corner)
    layer: int = 0
    row: int = 0
    w: int = W
    h: int = H
    x: float = 0
    y: float = 0
    slots: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def slot(self, side: str) -> float:
        """An attachment point's offset along a side: 0, +8, -8, +16, ... so arrows do not coincide."""
        k = self.slots[side]
        self.slots[side] += 1
        offset = ((k + 1) // 2) * 8 * (1 if k % 2 else -1)
        limit = self.h / 2 - 4
        return max(-limit, min(limit, offset))

    def count(self, side: str) -> int:
        """How many arrows already attach to the top or bottom (they line up from the corner)."""
        k = self.slots[side]
        self.slots[side] += 1
        return k


@dataclass
class _Edge:
    src: str
    dst: str
    labels: list[str]
    dashed: bool = False


# ---------------------------------------------------------------------------- the graph


def _pseudo_end(track: str) -> str:
    return f"{END_TRACK}:{track}"


def _graph(process: Process) -> tuple[dict[str, _Node], list[_Edge]]:
    tracks = list(process.tracks) or ["main"]
    for s in process.steps:
        if s.track not in tracks:
            tracks.append(s.track)
    band = {t: i for i, t in enumerate(tracks)}
    n = len(process.steps)
    nodes: dict[str, _Node] = {}
    for i, s in enumerate(process.steps):
        who = "、".join(AGENCY_TYPE_LABELS.get(t, str(t)) for t in s.responsible)
        tip = f"{s.label}（{who}）" + (f"：{s.description}" if s.description else "")
        nodes[s.name] = _Node(s.name, s.label, "step", band[s.track], i, tip=tip)
    edges: dict[tuple[str, str], _Edge] = {}

    def add(src: str, dst: str, label: str, dashed: bool = False) -> None:
        edge = edges.setdefault((src, dst), _Edge(src, dst, [], dashed))
        if label not in edge.labels:
            edge.labels.append(label)

    for s in process.steps:
        for a in s.actions:
            for to in a.to:
                if to == "":
                    nodes[s.name].loop = True
                    add(s.name, s.name, a.label)
                elif to == CLOSE:
                    nodes.setdefault(CLOSE, _Node(CLOSE, "结案", "close", 0, n + 1, w=64, h=32))
                    add(s.name, CLOSE, a.label)
                elif to == END_TRACK:
                    key = _pseudo_end(s.track)
                    nodes.setdefault(key, _Node(key, "分支结束", "end", band[s.track], n + 2, w=76, h=32))
                    add(s.name, key, a.label)
                elif to in nodes or process.has_step(to):
                    add(s.name, to, a.label)
    targets = [(a, to) for a in process.case_actions for to in a.to if process.has_step(to)]
    if targets:
        nodes[ANY] = _Node(ANY, "任一环节", "any", len(tracks) - 1, -1, tip="案件办理中任一环节均可发起", w=76, h=32)
        for a, to in targets:
            add(ANY, to, a.label, dashed=True)
    return nodes, list(edges.values())


def _is_forward(nodes: dict[str, _Node], e: _Edge) -> bool:
    return e.src != e.dst and nodes[e.dst].index > nodes[e.src].index


def _layers(process: Process, nodes: dict[str, _Node], edges: list[_Edge]) -> None:
    """Longest path over the forward edges; 结案 last; a step entered only from 任一环节 is drawn just
    before the step it leads to, not at the start."""
    preds: dict[str, list[str]] = defaultdict(list)
    succs: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if _is_forward(nodes, e):
            preds[e.dst].append(e.src)
            succs[e.src].append(e.dst)
    order = sorted(nodes.values(), key=lambda nd: nd.index)
    for nd in order:
        nd.layer = max((nodes[p].layer + 1 for p in preds[nd.key]), default=0)
    if CLOSE in nodes:
        nodes[CLOSE].layer = max((nd.layer for nd in nodes.values() if nd.key != CLOSE), default=0) + 1
    starts = {o.step for o in process.starts}
    for nd in reversed(order):
        if nd.kind != "step" or nd.key in starts or any(p != ANY for p in preds[nd.key]) or not succs[nd.key]:
            continue
        nd.layer = max(nd.layer, min(nodes[s].layer for s in succs[nd.key]) - 1)


# ---------------------------------------------------------------------------- geometry


@dataclass
class _Band:
    label: str
    rows: int = 1
    up: list[_Edge] = field(default_factory=list)
    down: list[_Edge] = field(default_factory=list)
    top: float = 0
    rows_top: float = 0
    rows_bottom: float = 0
    bottom: float = 0


def _col_x(layer: int) -> float:
    return MARGIN + COL_GAP / 2 + layer * (W + COL_GAP)


def _gap_x(layer: int) -> float:
    """The middle of the gap to the right of column `layer`."""
    return _col_x(layer) + W + COL_GAP / 2


def _assign_rows(nodes: dict[str, _Node], bands: list[_Band]) -> None:
    cells: dict[tuple[int, int], list[_Node]] = defaultdict(list)
    for nd in nodes.values():
        cells[(nd.band, nd.layer)].append(nd)
    for (b, _), members in cells.items():
        members.sort(key=lambda nd: (nd.kind == "close", nd.index))
        for row, nd in enumerate(members):
            nd.row = row
        bands[b].rows = max(bands[b].rows, len(members))


def _plan_lanes(nodes: dict[str, _Node], edges: list[_Edge], bands: list[_Band]) -> None:
    for e in edges:
        s, t = nodes[e.src], nodes[e.dst]
        if e.src == e.dst or (s.band == t.band and t.layer - s.layer in (0, 1)):
            continue
        if s.band != t.band:
            bands[min(s.band, t.band)].down.append(e)
        elif t.layer > s.layer:
            bands[s.band].down.append(e)
        else:
            bands[s.band].up.append(e)
    for b in bands:
        span = lambda e: abs(nodes[e.dst].layer - nodes[e.src].layer)  # noqa: E731
        b.up.sort(key=span)
        b.down.sort(key=span)


def _place(nodes: dict[str, _Node], bands: list[_Band]) -> tuple[float, float]:
    y = MARGIN
    for b in bands:
        b.top = y
        b.rows_top = y + LABEL_H + 14 + len(b.up) * LANE
        b.rows_bottom = b.rows_top + b.rows * H + (b.rows - 1) * ROW_GAP
        b.bottom = b.rows_bottom + 14 + len(b.down) * LANE
        y = b.bottom + 6
    for nd in nodes.values():
        b = bands[nd.band]
        nd.x = _col_x(nd.layer) + (W - nd.w) / 2
        nd.y = b.rows_top + nd.row * (H + ROW_GAP) + (H - nd.h) / 2
    columns = max((nd.layer for nd in nodes.values()), default=0) + 1
    width = _col_x(columns) - COL_GAP / 2 + MARGIN
    return width, y + MARGIN


# ---------------------------------------------------------------------------- routing


class _Router:
    def __init__(self, nodes: dict[str, _Node], bands: list[_Band]) -> None:
        self.nodes = nodes
        self.bands = bands
        self.gaps: dict[int, int] = defaultdict(int)
        self.column: dict[tuple[int, int], list[_Node]] = defaultdict(list)
        for nd in nodes.values():
            self.column[(nd.band, nd.layer)].append(nd)

    def gap(self, layer: int) -> float:
        k = self.gaps[layer]
        self.gaps[layer] += 1
        return _gap_x(layer) + ((k + 1) // 2) * 5 * (1 if k % 2 else -1)

    def clear(self, nd: _Node, above: bool) -> bool:
        """No other box of its band's column lies between the node and the lanes above (or below)."""
        return all(o.row >= nd.row if above else o.row <= nd.row for o in self.column[(nd.band, nd.layer)])

    def lane_y(self, e: _Edge) -> tuple[float, bool]:
        for b in self.bands:
            if e in b.up:
                return b.rows_top - 10 - b.up.index(e) * LANE, True
            if e in b.down:
                return b.rows_bottom + 10 + b.down.index(e) * LANE, False
        raise KeyError(e.src)

    def route(self, e: _Edge) -> str:
        s, t = self.nodes[e.src], self.nodes[e.dst]
        if s is t:
            r, top = s.x + s.w, s.y
            return (
                f"M{r - 20:.1f},{top:.1f} C{r - 20:.1f},{top - 18:.1f} {r + 18:.1f},{top + 8:.1f} {r:.1f},{top + 9:.1f}"
            )
        if s.band == t.band and t.layer == s.layer + 1:
            return self._adjacent(s, t)
        if s.band == t.band and t.layer == s.layer:
            x = self.gap(s.layer)
            y1, y2 = s.cy + s.slot("r"), t.cy + t.slot("r")
            return f"M{s.x + s.w:.1f},{y1:.1f} H{x:.1f} V{y2:.1f} H{t.x + t.w:.1f}"
        return self._via_lane(e, s, t)

    def _adjacent(self, s: _Node, t: _Node) -> str:
        if s.row == t.row and s.slots["r"] == 0 and t.slots["l"] == 0:
            s.slot("r")
            t.slot("l")
            return f"M{s.x + s.w:.1f},{s.cy:.1f} H{t.x:.1f}"
        x = self.gap(s.layer)
        y1, y2 = s.cy + s.slot("r"), t.cy + t.slot("l")
        return f"M{s.x + s.w:.1f},{y1:.1f} H{x:.1f} V{y2:.1f} H{t.x:.1f}"

    def _via_lane(self, e: _Edge, s: _Node, t: _Node) -> str:
        ly, above = self.lane_y(e)
        same = s.band == t.band
        forward = t.layer > s.layer
        # leave the source
        if same and self.clear(s, above):
            x1 = s.x + 16 + s.count("top" if above else "bottom") * 10
            start = f"M{x1:.1f},{(s.y if above else s.y + s.h):.1f} V{ly:.1f}"
        elif forward:
            x1 = self.gap(s.layer)
            start = f"M{s.x + s.w:.1f},{s.cy + s.slot('r'):.1f} H{x1:.1f} V{ly:.1f}"
        else:
            x1 = self.gap(s.layer - 1)
            start = f"M{s.x:.1f},{s.cy + s.slot('l'):.1f} H{x1:.1f} V{ly:.1f}"
        # reach the target
        if same and self.clear(t, above):
            x2 = t.x + t.w - 16 - t.count("top" if above else "bottom") * 10 - (26 if above and t.loop else 0)
            end = f"H{x2:.1f} V{(t.y if above else t.y + t.h):.1f}"
        elif forward:
            x2 = self.gap(t.layer - 1)
            end = f"H{x2:.1f} V{t.cy + t.slot('l'):.1f} H{t.x:.1f}"
        else:
            x2 = self.gap(t.layer)
            end = f"H{x2:.1f} V{t.cy + t.slot('r'):.1f} H{t.x + t.w:.1f}"
        return f"{start} {end}"


# ---------------------------------------------------------------------------- drawing


def wrap_label(label: str, width: int = 6) -> list[str]:
    """One or more lines of at most `width` characters, broken before 的 or after 、，（ where possible."""
    if len(label) <= width:
        return [label]
    lines = ceil(len(label) / width)
    if lines == 2:
        for i in range(len(label) - 1, 0, -1):
            cut = i if label[i] in "的（" else (i + 1 if label[i] in "、，" else None)
            if cut and max(cut, len(label) - cut) <= width:
                return [label[:cut], label[cut:]]
    size = ceil(len(label) / lines)
    return [label[i : i + size] for i in range(0, len(label), size)]


def _text(nd: _Node, bold: bool) -> str:
    lines = wrap_label(nd.label)
    fill = "#ffffff" if nd.kind == "close" else "#0f172a"
    weight = ' font-weight="bold"' if bold else ""
    first = nd.cy - (len(lines) - 1) * (FONT + 3) / 2 + FONT * 0.36
    spans = "".join(
        f'<tspan x="{nd.cx:.1f}" y="{first + i * (FONT + 3):.1f}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text text-anchor="middle" font-size="{FONT}" fill="{fill}"{weight}>{spans}</text>'


def _node_svg(nd: _Node, current: set[str], done: set[str]) -> str:
    if nd.kind == "step":
        state = "current" if nd.key in current else ("done" if nd.key in done else "step")
    else:
        state = nd.kind
    fill, stroke, width = STYLE[state]
    classes = {"current": "node step current", "done": "node step done", "step": "node step"}.get(
        state, f"node {nd.kind}"
    )
    attrs = f' class="{classes}" data-step="{escape(nd.key)}"'
    if state == "current":
        attrs += ' aria-current="step"'
    radius = nd.h / 2 if nd.kind in ("close", "end") else 6
    dash = ' stroke-dasharray="4 3"' if nd.kind in ("any", "end") else ""
    tip = nd.tip or nd.label
    if state == "current":
        tip = f"当前环节：{tip}"
    return (
        f"<g{attrs}><title>{escape(tip)}</title>"
        f'<rect x="{nd.x:.1f}" y="{nd.y:.1f}" width="{nd.w}" height="{nd.h}" rx="{radius:.1f}" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"{dash}/>'
        f"{_text(nd, state == 'current')}</g>"
    )


def _band_svg(b: _Band, i: int, width: float) -> str:
    fill = "#f8fafc" if i % 2 == 0 else "#f1f5f9"
    return (
        f'<g class="band"><rect x="{MARGIN / 2:.1f}" y="{b.top:.1f}" width="{width - MARGIN:.1f}" '
        f'height="{b.bottom - b.top:.1f}" rx="6" fill="{fill}" stroke="#e2e8f0"/>'
        f'<text x="{MARGIN:.1f}" y="{b.top + 14:.1f}" font-size="12" fill="#475569">{escape(b.label)}</text></g>'
    )


def _edge_svg(e: _Edge, path: str, marker: str) -> str:
    dash = ' stroke-dasharray="5 4"' if e.dashed else ""
    cls = "edge case-action" if e.dashed else "edge"
    return (
        f'<g class="{cls}" data-from="{escape(e.src)}" data-to="{escape(e.dst)}">'
        f"<title>{escape(' / '.join(e.labels))}</title>"
        f'<path d="{path}" fill="none" stroke="{EDGE_COLOUR}" stroke-width="1.3"{dash} '
        f'marker-end="url(#{marker})"/></g>'
    )


def _legend(y: float, dashed: bool) -> str:
    items = [("current", "当前环节"), ("done", "已办理"), ("step", "未到达")]
    out = []
    x = MARGIN + 4
    for state, label in items:
        fill, stroke, width = STYLE[state]
        out.append(
            f'<rect x="{x}" y="{y}" width="14" height="12" rx="2" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{min(float(width), 2)}"/>'
            f'<text x="{x + 19}" y="{y + 10}" font-size="12" fill="#334155">{label}</text>'
        )
        x += 90
    if dashed:
        out.append(
            f'<line x1="{x}" y1="{y + 6}" x2="{x + 26}" y2="{y + 6}" stroke="{EDGE_COLOUR}" stroke-dasharray="5 4"/>'
            f'<text x="{x + 32}" y="{y + 10}" font-size="12" fill="#334155">任一环节均可发起的操作</text>'
        )
    return f'<g class="legend">{"".join(out)}</g>'


def process_svg(process: Process, current: set[str] | None = None, done: set[str] | None = None) -> str:
    """The process as an SVG document fragment (inline in a page, or saved as a .svg file)."""
    current = set(current or ())
    done = set(done or ()) - current
    nodes, edges = _graph(process)
    _layers(process, nodes, edges)
    tracks = list(process.tracks) or ["main"]
    for s in process.steps:
        if s.track not in tracks:
            tracks.append(s.track)
    bands = [_Band(process.tracks.get(t, t)) for t in tracks]
    _assign_rows(nodes, bands)
    _plan_lanes(nodes, edges, bands)
    width, height = _place(nodes, bands)
    router = _Router(nodes, bands)
    # straight edges first, so they keep the middle of both sides
    ordered = sorted(
        edges,
        key=lambda e: (
            not (
                nodes[e.src].row == nodes[e.dst].row
                and nodes[e.dst].layer - nodes[e.src].layer == 1
                and nodes[e.src].band == nodes[e.dst].band
            )
        ),
    )
    marker = "arrow-" + re.sub(r"[^A-Za-z0-9_-]", "_", process.name)
    paths = [_edge_svg(e, router.route(e), marker) for e in ordered]
    has_dashed = any(e.dashed for e in edges)
    legend_y = height - 4
    height += 18
    title = f"{process.label}流程图"
    desc = "、".join(s.label for s in process.steps if s.name in current)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="process-diagram" role="img" '
        f'aria-labelledby="{marker}-title" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" font-family="\'Microsoft YaHei\',\'PingFang SC\','
        f"'Noto Sans CJK SC','WenQuanYi Micro Hei',sans-serif\">",
        f'<title id="{marker}-title">{escape(title)}</title>',
        f"<desc>{escape('当前环节：' + desc if desc else process.label)}</desc>",
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{EDGE_COLOUR}"/></marker></defs>',
        *(_band_svg(b, i, width) for i, b in enumerate(bands)),
        *paths,
        *(_node_svg(nd, current, done) for nd in sorted(nodes.values(), key=lambda nd: nd.index)),
        _legend(legend_y, has_dashed),
        "</svg>",
    ]
    return "".join(parts)
