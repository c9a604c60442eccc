"""Layout of a workflow's DAG for drawing: steps in columns by depth, edges as curves.

The layout is computed here (plain Python, unit-tested) and drawn as SVG by a template,
so the page needs no graph library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

NODE_WIDTH = 190
NODE_HEIGHT = 58
GAP_X = 64
GAP_Y = 22
MARGIN = 12


@dataclass(frozen=True)
class NodeBox:
    """Where one step is drawn."""

    index: int
    layer: int
    row: int
    x: int
    y: int
    width: int = NODE_WIDTH
    height: int = NODE_HEIGHT


@dataclass(frozen=True)
class Edge:
    """A dependency arrow from ``source`` (the parent) to ``target``; ``path`` is SVG."""

    source: int
    target: int
    path: str


@dataclass(frozen=True)
class Layout:
    """A drawn DAG: boxes by step index, edges, and the size of the drawing."""

    nodes: dict[int, NodeBox]
    edges: list[Edge]
    width: int
    height: int


def depths(parents: Mapping[int, Sequence[int]]) -> dict[int, int]:
    """Each node's depth: 0 without parents, else one more than its deepest parent.

    Parents that are not nodes themselves are ignored. Raises :class:`ValueError` on a
    cycle (the core refuses cyclic workflows; a drawing must never loop).
    """
    depth: dict[int, int] = {}
    visiting: set[int] = set()
    for start in parents:
        stack: list[tuple[int, bool]] = [(start, False)]
        while stack:
            node, expanded = stack.pop()
            if node in depth:
                continue
            known = [p for p in parents[node] if p in parents]
            if expanded:
                visiting.discard(node)
                depth[node] = 1 + max((depth[p] for p in known), default=-1)
                continue
            if node in visiting:
                raise ValueError(f"the graph has a cycle through node {node}")
            visiting.add(node)
            stack.append((node, True))
            stack.extend((p, False) for p in known if p not in depth)
    return depth


def layout(parents: Mapping[int, Sequence[int]]) -> Layout:
    """Lay out the DAG given as ``{node: [parent, ...]}`` left to right.

    Columns are depths; within a column nodes are ordered by the mean row of their
    parents (fewer crossings), then by index.
    """
    depth = depths(parents)
    columns: dict[int, list[int]] = {}
    for node in sorted(parents):
        columns.setdefault(depth[node], []).append(node)
    row_of: dict[int, int] = {}
    for layer in sorted(columns):

        def order(node: int) -> tuple[float, int]:
            rows = [row_of[p] for p in parents[node] if p in row_of]
            return (sum(rows) / len(rows) if rows else float(node), node)

        columns[layer].sort(key=order)
        for row, node in enumerate(columns[layer]):
            row_of[node] = row
    nodes = {
        node: NodeBox(
            index=node,
            layer=depth[node],
            row=row_of[node],
            x=MARGIN + depth[node] * (NODE_WIDTH + GAP_X),
            y=MARGIN + row_of[node] * (NODE_HEIGHT + GAP_Y),
        )
        for node in parents
    }
    edges = [
        Edge(source=parent, target=node, path=_curve(nodes[parent], nodes[node]))
        for node in sorted(parents)
        for parent in sorted(set(parents[node]))
        if parent in nodes
    ]
    layers = max(columns, default=-1) + 1
    rows = max((len(c) for c in columns.values()), default=0)
    width = 2 * MARGIN + max(0, layers * NODE_WIDTH + (layers - 1) * GAP_X)
    height = 2 * MARGIN + max(0, rows * NODE_HEIGHT + (rows - 1) * GAP_Y)
    return Layout(nodes=nodes, edges=edges, width=width, height=height)


def _curve(parent: NodeBox, child: NodeBox) -> str:
    x1, y1 = parent.x + parent.width, parent.y + parent.height // 2
    x2, y2 = child.x - 6, child.y + child.height // 2  # stop short: room for the arrowhead
    mid = (x1 + x2) // 2
    return f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
