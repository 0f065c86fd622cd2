"""Where an element sits in a page's layout, read from an AppTest's element tree (no browser).

``find(at.main, "mem_chart")`` is the chain of blocks from the root down to the element whose key is
``mem_chart`` (or with ``kind=`` the first element of a type such as ``"bidi_component"``, with
``label=`` the first element or block so labelled, e.g. an expander); :func:`side_by_side` says
whether two elements stand in two columns of one row, and :func:`position` gives an element's place
in the page's reading order (depth first).
"""

from __future__ import annotations

from typing import Any

__all__ = ["find", "side_by_side", "position", "contains"]


def _children(node) -> list:
    kids = getattr(node, "children", None)
    return list(kids.values()) if isinstance(kids, dict) else []


def _is(node, key: str | None, kind: str | None, label: str | None) -> bool:
    if kind is not None and getattr(node, "type", None) != kind:
        return False
    if label is not None:
        return getattr(node, "label", None) == label
    if key is None:
        return not _children(node)
    ident = getattr(getattr(node, "proto", None), "id", "") or ""
    return isinstance(ident, str) and ident.endswith("-" + key)


def _walk(node, key, kind, label, stack):
    stack = [*stack, node]
    if node is not stack[0] and _is(node, key, kind, label):
        return stack
    for child in _children(node):
        found = _walk(child, key, kind, label, stack)
        if found:
            return found
    return None


def find(root, key: str | None = None, *, kind: str | None = None, label: str | None = None) -> list[Any] | None:
    """The blocks from ``root`` down to the first element with widget/element key ``key`` (or label
    ``label``; of type ``kind``, when given), the element last; None when there is none."""
    return _walk(root, key, kind, label, [])


def contains(root, key: str | None = None, *, kind: str | None = None, label: str | None = None) -> bool:
    return find(root, key, kind=kind, label=label) is not None


def side_by_side(root, a: dict, b: dict) -> bool:
    """Whether the elements ``find(root, **a)`` and ``find(root, **b)`` stand in two different columns of
    one row (their nearest common block is a row whose children on their paths are columns)."""
    pa, pb = find(root, **a), find(root, **b)
    assert pa and pb, (a, pa is not None, b, pb is not None)
    k = 0
    while k < min(len(pa), len(pb)) and pa[k] is pb[k]:
        k += 1
    if k >= min(len(pa), len(pb)):
        return False
    return getattr(pa[k], "type", None) == "column" and getattr(pb[k], "type", None) == "column"


def position(root, key: str | None = None, *, kind: str | None = None, label: str | None = None) -> int:
    """The element's index in the page's reading order (depth first over the tree)."""
    order: list = []

    def walk(node):
        for child in _children(node):
            order.append(child)
            walk(child)

    walk(root)
    path = find(root, key, kind=kind, label=label)
    assert path, (key, kind, label)
    return next(i for i, n in enumerate(order) if n is path[-1])
