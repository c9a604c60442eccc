"""Layout of workflow graphs."""

from __future__ import annotations

import pytest

from jobq_monitor.dag import GAP_X, MARGIN, NODE_HEIGHT, NODE_WIDTH, depths, layout


def test_depth_is_one_more_than_the_deepest_parent() -> None:
    parents = {0: [], 1: [0], 2: [0], 3: [1, 2], 4: [3, 0]}
    assert depths(parents) == {0: 0, 1: 1, 2: 1, 3: 2, 4: 3}


def test_parents_that_are_not_nodes_are_ignored() -> None:
    assert depths({0: [7], 1: [0]}) == {0: 0, 1: 1}


def test_a_cycle_is_refused_instead_of_looping() -> None:
    with pytest.raises(ValueError, match="cycle"):
        depths({0: [2], 1: [0], 2: [1]})
    with pytest.raises(ValueError, match="cycle"):
        depths({0: [0]})


def test_diamond_layout_puts_columns_by_depth_and_an_edge_per_dependency() -> None:
    graph = layout({0: [], 1: [0], 2: [0], 3: [1, 2]})
    assert {i: (n.layer, n.row) for i, n in graph.nodes.items()} == {
        0: (0, 0), 1: (1, 0), 2: (1, 1), 3: (2, 0),
    }  # fmt: skip
    assert [(e.source, e.target) for e in graph.edges] == [(0, 1), (0, 2), (1, 3), (2, 3)]
    assert graph.nodes[3].x == MARGIN + 2 * (NODE_WIDTH + GAP_X)
    assert graph.width == 2 * MARGIN + 3 * NODE_WIDTH + 2 * GAP_X
    assert graph.height > 2 * NODE_HEIGHT
    first = graph.edges[0].path
    assert first.startswith(f"M{MARGIN + NODE_WIDTH},")  # leaves the parent's right side


def test_rows_follow_the_parents_to_avoid_crossings() -> None:
    # 0 and 1 are roots; 2 depends on 1 and 3 on 0: 3 should sit above 2.
    graph = layout({0: [], 1: [], 2: [1], 3: [0]})
    assert graph.nodes[3].row == 0
    assert graph.nodes[2].row == 1


def test_an_empty_graph_has_only_margins() -> None:
    graph = layout({})
    assert (graph.nodes, graph.edges) == ({}, [])
    assert (graph.width, graph.height) == (2 * MARGIN, 2 * MARGIN)
