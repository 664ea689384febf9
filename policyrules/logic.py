"""Condition operators: the boolean layer that runs over occurrences and post fields.

The compiler lowers resolved conditions to these small operator objects (children of
``and``/``or`` sorted cheapest first). Each operator answers three questions about one
post: its value (short-circuiting), the evidence it contributes when true (language.md
§4), and an explanation node with its value for ``explain``.
"""

from __future__ import annotations

import bisect
import operator
import reprlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from . import nodes as n
from .formatter import format_condition
from .matchers import Occurrence
from .verdict import ExplainNode

__all__ = ["Context", "NodeRef", "Op", "describe", "dump_op", "load_op", "lower", "node_paths"]

_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
_MISSING = object()


class Context(Protocol):
    """What operators need from the runtime for one post."""

    occ: dict[tuple[str, int], list[Occurrence]]
    excepted: dict[tuple[str, int], list[tuple[Occurrence, str]]]
    post: dict[str, Any]

    def rule_holds(self, index: int) -> bool: ...

    def rule_evidence(self, index: int) -> list[Occurrence]: ...

    def words(self, label: str) -> list[tuple[int, int]]: ...

    def explain_rule(self, index: int) -> ExplainNode: ...


class NodeRef:
    """Where an operator's condition node sits in a loaded ruleset's resolved model.

    A pickled ruleset loads its operators without the resolved model (see compiler.load_plan);
    the node is looked up on first use (explanations only), which loads the model.
    """

    __slots__ = ("model", "path", "rule", "which")

    def __init__(self, model: Any, rule: int, which: int, path: tuple[int, ...]) -> None:
        self.model = model  # has .get() -> nodes.ResolvedRuleset
        self.rule = rule
        self.which = which  # 0: when, 1: unless
        self.path = path

    def get(self) -> Any:
        """The condition node."""
        rule = self.model.get().rules[self.rule]
        node = rule.when if self.which == 0 else rule.unless
        for i in self.path:
            node = _cond_children(node)[i]
        return node


def _cond_children(cond: Any) -> tuple[Any, ...]:
    """The child conditions that ``lower`` turns into child operators, in source order."""
    if isinstance(cond, (n.Or, n.And)):
        return tuple(cond.operands)
    if isinstance(cond, n.Not):
        return (cond.operand,)
    if isinstance(cond, n.FieldHas):
        return (cond.condition,)
    return ()


class Op:
    """Base operator."""

    __slots__ = ("_node", "cost")
    cost: int
    _node: Any

    @property
    def node(self) -> Any:
        """The condition node this operator was lowered from (explanations read it)."""
        node = self._node
        if type(node) is NodeRef:
            node = self._node = node.get()  # a benign race: every thread gets the same node
        return node

    @node.setter
    def node(self, value: Any) -> None:
        self._node = value

    def value(self, ctx: Context) -> bool:
        raise NotImplementedError

    def collect(self, ctx: Context, out: list[Occurrence]) -> None:
        """Append evidence; called only when ``value`` is true."""

    def explain(self, ctx: Context) -> ExplainNode:
        return ExplainNode(describe(self.node), self.value(ctx))

    def items(self) -> list[tuple[str, int]]:
        """(scope, item id) pairs this operator reads, for the trigger index."""
        return []

    def possible_without_hits(self) -> bool:
        """Can this be true on a post where no item occurs? (then the rule always runs)"""
        return True


# ---------------------------------------------------------------- boolean


class OrOp(Op):
    __slots__ = ("children",)

    def __init__(self, node: Any, children: Sequence[Op]) -> None:
        self.node = node
        self.children = sorted(children, key=lambda c: c.cost)
        self.cost = sum(c.cost for c in children)

    def value(self, ctx: Context) -> bool:
        for c in self.children:  # noqa: SIM110 - a loop is 2x faster than any(genexpr) here
            if c.value(ctx):
                return True
        return False

    def collect(self, ctx: Context, out: list[Occurrence]) -> None:
        for c in self.children:
            if c.value(ctx):
                c.collect(ctx, out)

    def explain(self, ctx: Context) -> ExplainNode:
        kids = tuple(c.explain(ctx) for c in _source_order(self.node.operands, self.children))
        return ExplainNode("or", any(k.value for k in kids), kids)

    def items(self) -> list[tuple[str, int]]:
        return [i for c in self.children for i in c.items()]

    def possible_without_hits(self) -> bool:
        return any(c.possible_without_hits() for c in self.children)


class AndOp(OrOp):
    __slots__ = ()

    def value(self, ctx: Context) -> bool:
        for c in self.children:  # noqa: SIM110 - a loop is 2x faster than all(genexpr) here
            if not c.value(ctx):
                return False
        return True

    def collect(self, ctx: Context, out: list[Occurrence]) -> None:
        for c in self.children:
            c.collect(ctx, out)

    def explain(self, ctx: Context) -> ExplainNode:
        kids = tuple(c.explain(ctx) for c in _source_order(self.node.operands, self.children))
        return ExplainNode("and", all(k.value for k in kids), kids)

    def possible_without_hits(self) -> bool:
        return all(c.possible_without_hits() for c in self.children)


def _source_order(operands: Sequence[Any], children: Sequence[Op]) -> list[Op]:
    by_id = {id(c.node): c for c in children}
    ordered = [by_id[id(o)] for o in operands if id(o) in by_id]
    return ordered if len(ordered) == len(children) else list(children)


class NotOp(Op):
    __slots__ = ("child",)

    def __init__(self, node: Any, child: Op) -> None:
        self.node = node
        self.child = child
        self.cost = child.cost

    def value(self, ctx: Context) -> bool:
        return not self.child.value(ctx)

    def explain(self, ctx: Context) -> ExplainNode:
        kid = self.child.explain(ctx)
        return ExplainNode("not", not kid.value, (kid,))

    def items(self) -> list[tuple[str, int]]:
        return self.child.items()

    def possible_without_hits(self) -> bool:
        return True


# ---------------------------------------------------------------- matching


class _MatchOp(Op):
    __slots__ = ("ids", "scope")

    def __init__(self, node: Any, scope: str, ids: Sequence[int]) -> None:
        self.node = node
        self.scope = scope
        self.ids = tuple(ids)
        self.cost = 2

    def _occ(self, ctx: Context, item: int) -> list[Occurrence]:
        return ctx.occ.get((self.scope, item)) or []

    def items(self) -> list[tuple[str, int]]:
        return [(self.scope, i) for i in self.ids]

    def collect(self, ctx: Context, out: list[Occurrence]) -> None:
        for i in self.ids:
            out.extend(self._occ(ctx, i))

    def explain(self, ctx: Context) -> ExplainNode:
        value = self.value(ctx)
        occs = [o for i in self.ids for o in self._occ(ctx, i)]
        detail = _occ_detail(ctx, occs) if occs else ""
        cancelled = [c for i in self.ids for c in ctx.excepted.get((self.scope, i), ())]
        if cancelled:
            shown = "; ".join(
                f"{o.term!r}@{o.field}[{o.start}:{o.end}] cancelled by except {x!r}" for o, x in cancelled[:8]
            )
            more = f" (+{len(cancelled) - 8} more)" if len(cancelled) > 8 else ""
            detail = f"{detail}; {shown}{more}" if detail else shown + more
        return ExplainNode(describe(self.node, self.scope), value, (), detail)

    def possible_without_hits(self) -> bool:
        return False


def _occ_detail(ctx: Context, occs: Sequence[Occurrence]) -> str:
    shown = []
    for o in occs[:8]:
        shown.append(f"{o.term!r}@{o.field}[{o.start}:{o.end}]")
    more = f" (+{len(occs) - 8} more)" if len(occs) > 8 else ""
    return "found " + ", ".join(shown) + more


class AnyOp(_MatchOp):
    __slots__ = ()

    def value(self, ctx: Context) -> bool:
        occ = ctx.occ
        scope = self.scope
        for i in self.ids:  # noqa: SIM110 - 2x faster than any(genexpr); runs for every triggered rule
            if (scope, i) in occ:
                return True
        return False


class AllOp(_MatchOp):
    __slots__ = ()

    def value(self, ctx: Context) -> bool:
        occ = ctx.occ
        scope = self.scope
        return all((scope, i) in occ for i in self.ids)


class NOfOp(_MatchOp):
    __slots__ = ("n",)

    def __init__(self, node: Any, scope: str, ids: Sequence[int], count: int) -> None:
        super().__init__(node, scope, ids)
        self.n = count

    def value(self, ctx: Context) -> bool:
        occ = ctx.occ
        return sum(1 for i in self.ids if (self.scope, i) in occ) >= self.n

    def possible_without_hits(self) -> bool:
        return self.n <= 0


class CountOp(_MatchOp):
    __slots__ = ("cmp", "n", "op")

    def __init__(self, node: Any, scope: str, ids: Sequence[int], op: str, count: int) -> None:
        super().__init__(node, scope, ids)
        self.op = op
        self.cmp = _CMP[op]
        self.n = count

    def measure(self, ctx: Context) -> int:
        return len({(o.field, o.start, o.end) for i in self.ids for o in self._occ(ctx, i)})

    def value(self, ctx: Context) -> bool:
        # Distinct normalized spans bound the distinct original spans from above (mapping
        # back can only merge spans), so most comparisons are decided without mapping.
        if type(self) is CountOp and self.op in (">=", ">", "<", "<="):
            upper = len({(o.field, o.view, o.nstart, o.nend) for i in self.ids for o in self._occ(ctx, i)})
            below = self.cmp(upper, self.n)
            if self.op in (">=", ">") and not below:
                return False
            if self.op in ("<", "<=") and below:
                return True
        return self.cmp(self.measure(ctx), self.n)

    def explain(self, ctx: Context) -> ExplainNode:
        base = super().explain(ctx)
        return ExplainNode(base.label, base.value, (), f"count = {self.measure(ctx)}; {base.detail}".rstrip("; "))

    def possible_without_hits(self) -> bool:
        return self.cmp(0, self.n)


class DistinctOp(CountOp):
    __slots__ = ()

    def measure(self, ctx: Context) -> int:
        return len({o.term for i in self.ids for o in self._occ(ctx, i)})


class NearOp(_MatchOp):
    __slots__ = ("left", "n", "ordered", "right")

    def __init__(self, node: Any, scope: str, left: Sequence[int], right: Sequence[int],
                 distance: int, ordered: bool) -> None:
        super().__init__(node, scope, (*left, *right))
        self.left = tuple(left)
        self.right = tuple(right)
        self.n = distance
        self.ordered = ordered
        self.cost = 4

    def pairs(self, ctx: Context, first_only: bool) -> list[tuple[Occurrence, Occurrence]]:
        lefts = [o for i in self.left for o in self._occ(ctx, i)]
        if not lefts:
            return []
        rights = [o for i in self.right for o in self._occ(ctx, i)]
        out = []
        for a in lefts:
            for b in rights:
                if a.field != b.field:
                    continue
                if self.ordered:
                    if a.end > b.start:
                        continue
                    d = _word_distance(ctx, a, b)
                else:
                    d = _word_distance(ctx, a, b) if (a.start, a.end) <= (b.start, b.end) else _word_distance(ctx, b, a)
                if d <= self.n:
                    out.append((a, b))
                    if first_only:
                        return out
        return out

    def value(self, ctx: Context) -> bool:
        return bool(self.pairs(ctx, True))

    def collect(self, ctx: Context, out: list[Occurrence]) -> None:
        for a, b in self.pairs(ctx, False):
            out.append(a)
            out.append(b)


def _word_range(ctx: Context, o: Occurrence) -> tuple[int, int]:
    words = ctx.words(o.field)
    ends = [w[1] for w in words]
    first = bisect.bisect_right(ends, o.start)  # first word ending after start
    last = first
    while last < len(words) and words[last][0] < o.end:
        last += 1
    if last == first:  # covers no word: sits before word `first`
        return first, first
    return first, last - 1


def _word_distance(ctx: Context, earlier: Occurrence, later: Occurrence) -> int:
    """Words apart (language.md §4); overlapping occurrences are never apart."""
    if earlier.start < later.end and later.start < earlier.end:
        return 0
    _, last = _word_range(ctx, earlier)
    first, _ = _word_range(ctx, later)
    return max(0, first - last)


# ---------------------------------------------------------------- fields


def field_value(post: dict[str, Any], key: tuple[str, ...]) -> Any:
    """The value at a field path, or _MISSING."""
    cur: Any = post
    for part in key:
        if not isinstance(cur, dict):
            return _MISSING
        cur = cur.get(part, _MISSING)
        if cur is _MISSING:
            return _MISSING
    return cur


_REPR = reprlib.Repr()
_REPR.maxlevel = 4
_REPR.maxstring = _REPR.maxother = 120


def _show(value: Any) -> str:
    """A bounded repr of a post value for explanations: deep, cyclic or huge values stay short."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4000:
        return f"<int of about {int(value.bit_length() * 0.30103)} digits>"
    try:
        return _REPR.repr(value)
    except Exception:  # a value whose own __repr__ fails
        return f"<{type(value).__name__}>"


def _as_datetime(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    if isinstance(v, str):
        try:
            d = datetime.fromisoformat(v.replace("Z", "+00:00") if v.endswith(("Z", "z")) else v)
        except ValueError:
            return None
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    return None


def compare(field: tuple[str, ...], actual: Any, op: str, expected: Any) -> bool:
    """A typed comparison; a wrong type is simply false."""
    if actual is _MISSING or actual is None:
        return False
    fn = _CMP[op]
    if isinstance(expected, bool):
        return isinstance(actual, bool) and op in ("==", "!=") and fn(actual, expected)
    if isinstance(expected, (int, float)):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return False
        return fn(actual, expected)
    if isinstance(expected, datetime):
        d = _as_datetime(actual)
        return d is not None and fn(d, expected)
    if isinstance(expected, str):
        if not isinstance(actual, str):
            return False
        if field == ("lang",):
            a = actual.lower().replace("_", "-")
            e = expected.lower().replace("_", "-")
            if "-" not in e:
                a = a.split("-", 1)[0]
            return fn(a, e)
        return fn(actual, expected)
    return False


class FieldCmpOp(Op):
    __slots__ = ("expected", "key", "op")

    def __init__(self, node: n.FieldCmp) -> None:
        self.node = node
        self.key = node.field.key
        self.op = node.op
        self.expected = node.value
        self.cost = 1

    def value(self, ctx: Context) -> bool:
        return compare(self.key, field_value(ctx.post, self.key), self.op, self.expected)

    def explain(self, ctx: Context) -> ExplainNode:
        actual = field_value(ctx.post, self.key)
        shown = "missing" if actual is _MISSING else _show(actual)
        return ExplainNode(describe(self.node), self.value(ctx), (), f"{self.node.field.dotted} = {shown}")


class FieldInOp(FieldCmpOp):
    __slots__ = ("values",)

    def __init__(self, node: n.FieldIn) -> None:
        self.node = node
        self.key = node.field.key
        self.values = node.values
        self.cost = 1

    def value(self, ctx: Context) -> bool:
        actual = field_value(ctx.post, self.key)
        candidates = actual if isinstance(actual, list) else [actual]
        return any(compare(self.key, a, "==", v) for a in candidates for v in self.values)


class FieldTruthyOp(FieldCmpOp):
    __slots__ = ()

    def __init__(self, node: n.FieldTruthy) -> None:
        self.node = node
        self.key = node.field.key
        self.cost = 1

    def value(self, ctx: Context) -> bool:
        return field_value(ctx.post, self.key) is True


class RuleRefOp(Op):
    __slots__ = ("index", "target")

    def __init__(self, node: n.RuleRef, index: int, target: Any) -> None:
        self.node = node
        self.index = index
        self.target = target  # the referenced rule's program (for items / possibility)
        self.cost = 8

    def value(self, ctx: Context) -> bool:
        return ctx.rule_holds(self.index)

    def collect(self, ctx: Context, out: list[Occurrence]) -> None:
        out.extend(ctx.rule_evidence(self.index))

    def explain(self, ctx: Context) -> ExplainNode:
        inner = ctx.explain_rule(self.index)
        return ExplainNode(describe(self.node), self.value(ctx), (inner,))

    def items(self) -> list[tuple[str, int]]:
        return list(self.target.trigger_items())

    def possible_without_hits(self) -> bool:
        return bool(self.target.possible_without_hits())


class HasOp(Op):
    """``FIELD has M``: M on a text field; on a list field, M on each element (any may hold).

    False when the field is missing, empty or not text (language.md §4, §6).
    """

    __slots__ = ("child", "key", "scope")

    def __init__(self, node: n.FieldHas, child: Op) -> None:
        self.node = node
        self.key = node.field.key
        self.scope = node.field.name
        self.child = child
        self.cost = child.cost

    def _elements(self, ctx: Context) -> int:
        """-1 for a text field, the element count for a list of strings, 0 otherwise."""
        v = field_value(ctx.post, self.key)
        if isinstance(v, str):
            return -1
        if isinstance(v, (list, tuple)) and v and all(isinstance(x, str) for x in v):
            return len(v)
        return 0

    def _per_element(self, ctx: Context, count: int, out: list[Occurrence] | None) -> bool:
        """Evaluate the child once per element, seeing only that element's occurrences."""
        scope = self.scope
        saved = {k: v for k, v in ctx.occ.items() if k[0] == scope}
        held = False
        try:
            for i in range(count):
                label = f"{scope}[{i}]"
                for k, occs in saved.items():
                    mine = [o for o in occs if o.field == label]
                    if mine:
                        ctx.occ[k] = mine
                    else:
                        ctx.occ.pop(k, None)
                if self.child.value(ctx):
                    held = True
                    if out is None:
                        break
                    self.child.collect(ctx, out)
        finally:
            for k in [k for k in ctx.occ if k[0] == scope]:
                del ctx.occ[k]
            ctx.occ.update(saved)
        return held

    def value(self, ctx: Context) -> bool:
        count = self._elements(ctx)
        if count == 0:
            return False
        if count == -1 or count == 1:
            return self.child.value(ctx)
        return self._per_element(ctx, count, None)

    def collect(self, ctx: Context, out: list[Occurrence]) -> None:
        count = self._elements(ctx)
        if count == -1 or count == 1:
            self.child.collect(ctx, out)
        elif count > 1:
            self._per_element(ctx, count, out)

    def explain(self, ctx: Context) -> ExplainNode:
        kid = self.child.explain(ctx)
        count = self._elements(ctx)
        detail = "" if count else f"{self.node.field.dotted} is missing, empty or not text"
        return ExplainNode(f"{self.node.field.dotted} has", self.value(ctx), (kid,), detail)

    def items(self) -> list[tuple[str, int]]:
        return self.child.items()

    def possible_without_hits(self) -> bool:
        return self.child.possible_without_hits()


class ConstOp(Op):
    __slots__ = ("const",)

    def __init__(self, node: Any, const: bool) -> None:
        self.node = node
        self.const = const
        self.cost = 0

    def value(self, ctx: Context) -> bool:
        return self.const

    def possible_without_hits(self) -> bool:
        return self.const


# ---------------------------------------------------------------- lowering


def lower(cond: Any, scope: str, item_id: Callable[[Any], int], rule_index: Callable[[str], tuple[int, Any]]) -> Op:
    """Lower a resolved condition to operators; *scope* is the field it matches against."""
    if isinstance(cond, n.Or):
        if not cond.operands:
            return ConstOp(cond, False)
        return OrOp(cond, [lower(o, scope, item_id, rule_index) for o in cond.operands])
    if isinstance(cond, n.And):
        return AndOp(cond, [lower(o, scope, item_id, rule_index) for o in cond.operands])
    if isinstance(cond, n.Not):
        return NotOp(cond, lower(cond.operand, scope, item_id, rule_index))
    if isinstance(cond, n.BareItem):
        return AnyOp(cond, scope, [item_id(cond.item)])
    if isinstance(cond, n.AnyOf):
        return AnyOp(cond, scope, [item_id(i) for i in cond.items])
    if isinstance(cond, n.AllOf):
        return AllOp(cond, scope, [item_id(i) for i in cond.items])
    if isinstance(cond, n.NOf):
        return NOfOp(cond, scope, [item_id(i) for i in cond.items], cond.n)
    if isinstance(cond, n.CountCmp):
        return CountOp(cond, scope, [item_id(i) for i in cond.items], cond.op, cond.n)
    if isinstance(cond, n.DistinctCmp):
        return DistinctOp(cond, scope, [item_id(i) for i in cond.items], cond.op, cond.n)
    if isinstance(cond, (n.Near, n.Before)):
        return NearOp(cond, scope, [item_id(cond.left)], [item_id(cond.right)], cond.n, isinstance(cond, n.Before))
    if isinstance(cond, n.FieldHas):
        return HasOp(cond, lower(cond.condition, cond.field.name, item_id, rule_index))
    if isinstance(cond, n.FieldCmp):
        return FieldCmpOp(cond)
    if isinstance(cond, n.FieldIn):
        return FieldInOp(cond)
    if isinstance(cond, n.FieldTruthy):
        return FieldTruthyOp(cond)
    if isinstance(cond, n.RuleRef):
        index, target = rule_index(cond.name)
        return RuleRefOp(cond, index, target)
    raise TypeError(f"cannot lower {type(cond).__name__}")


# ---------------------------------------------------------------- pickling


def node_paths(cond: Any) -> dict[int, tuple[int, ...]]:
    """id(node) -> child-index path from *cond*, for every node ``lower`` makes an operator of."""
    out: dict[int, tuple[int, ...]] = {}
    stack: list[tuple[Any, tuple[int, ...]]] = [(cond, ())]
    while stack:
        node, path = stack.pop()
        out.setdefault(id(node), path)
        stack.extend((c, (*path, i)) for i, c in enumerate(_cond_children(node)))
    return out


_SLOTS: dict[type[Op], tuple[str, ...]] = {}


def _slot_names(cls: type[Op]) -> tuple[str, ...]:
    names = _SLOTS.get(cls)
    if names is None:
        seen: list[str] = []
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get("__slots__", ()):
                if name not in seen:
                    seen.append(name)
        names = _SLOTS[cls] = tuple(seen)
    return names


def dump_op(op: Op, path_of: Callable[[Op], tuple[int, ...]]) -> tuple[Any, ...]:
    """An operator tree as plain tuples: (class name, slot values...), children nested.

    *path_of* gives an operator's node path (see :func:`node_paths`); the referenced
    program (``RuleRefOp.target``) and comparison function (``CountOp.cmp``) are rebuilt
    from ``index`` and ``op``.
    """
    values: list[Any] = [type(op).__name__]
    for name in _slot_names(type(op)):
        if name == "_node":
            values.append(path_of(op))
        elif name == "children":
            values.append(tuple(dump_op(c, path_of) for c in op.children))  # type: ignore[attr-defined]
        elif name == "child":
            values.append(dump_op(op.child, path_of))  # type: ignore[attr-defined]
        elif name in ("target", "cmp"):
            values.append(None)
        else:
            values.append(getattr(op, name, ...))  # ...: a slot this class leaves unset
    return tuple(values)


_PLAIN, _NODE, _CHILDREN, _CHILD, _SKIP = range(5)
_LOADERS: dict[str, tuple[type[Op], tuple[tuple[str, int], ...]]] = {}


def _loader(name: str) -> tuple[type[Op], tuple[tuple[str, int], ...]]:
    """The class of a dumped operator and how to set each of its slots."""
    found = _LOADERS.get(name)
    if found is None:
        classes: tuple[type[Op], ...] = (OrOp, AndOp, NotOp, AnyOp, AllOp, NOfOp, CountOp, DistinctOp, NearOp,
                                         FieldCmpOp, FieldInOp, FieldTruthyOp, RuleRefOp, HasOp, ConstOp)
        cls = {c.__name__: c for c in classes}[name]
        kinds = {"_node": _NODE, "children": _CHILDREN, "child": _CHILD, "target": _SKIP, "cmp": _SKIP}
        found = _LOADERS[name] = (cls, tuple((slot, kinds.get(slot, _PLAIN)) for slot in _slot_names(cls)))
    return found


def load_op(data: tuple[Any, ...], model: Any, rule: int, which: int, programs: Sequence[Any]) -> Op:
    """The operator tree :func:`dump_op` wrote, for ``when`` (*which* 0) or ``unless`` (1) of
    rule *rule*; nodes stay :class:`NodeRef` into *model* until read; *programs* are the
    loaded rule programs."""
    cls, plan = _loader(data[0])
    op = object.__new__(cls)
    setattr_ = object.__setattr__
    for (name, kind), value in zip(plan, data[1:]):  # noqa: B905 (dump_op wrote one value per slot)
        if kind == _PLAIN:
            if value is not ...:
                setattr_(op, name, value)
        elif kind == _NODE:
            setattr_(op, name, NodeRef(model, rule, which, value))
        elif kind == _CHILDREN:
            setattr_(op, name, [load_op(c, model, rule, which, programs) for c in value])
        elif kind == _CHILD:
            setattr_(op, name, load_op(value, model, rule, which, programs))
    if cls is RuleRefOp:
        op.target = programs[op.index]  # type: ignore[attr-defined]
    elif isinstance(op, CountOp):
        op.cmp = _CMP[op.op]
    return op


# ---------------------------------------------------------------- describing


def describe(cond: Any, scope: str | None = None) -> str:
    """A condition node written back as source text, prefixed by the field it matches on."""
    text = format_condition(cond)
    if scope and scope != "text" and isinstance(cond, n.MATCH_NODES):
        return f"[{scope}] {text}"
    return text
