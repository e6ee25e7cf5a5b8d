"""``--where``: constraints between parameters, such as ``fast < slow and slow - fast >= 10``.

The text is parsed with Python's own parser (``ast``, which only builds a tree and runs
nothing) and then checked against a short list of allowed forms; the tree is evaluated by the
small interpreter below, never by ``eval``. Allowed: parameter names, numbers, quoted words,
``True``/``False``, comparisons (chains too), ``and``/``or``/``not``, ``+ - * / // %`` and unary
minus on numbers, and parentheses. Anything else (calls, attributes, subscripts, lambdas, power)
is a ConfigError that says what is not allowed.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final

from framework.errors import ConfigError

__all__ = ["Where"]

_MAX_LENGTH: Final = 500  # a constraint is a line; this also bounds the parser's recursion
_COMPARE: Final[dict[type, Callable[[Any, Any], bool]]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_ARITHMETIC: Final[dict[type, Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


class Where:
    """A parsed constraint; :meth:`holds` tells whether a point satisfies it.

    Raises (on construction):
        ConfigError: the text is not an allowed expression, or names an unknown parameter
            (when ``names`` is given).
    """

    def __init__(self, text: str, names: frozenset[str] | None = None) -> None:
        self.text = text
        if len(text) > _MAX_LENGTH:
            raise ConfigError(f"--where: the constraint is longer than {_MAX_LENGTH} characters")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            raise ConfigError(f"--where: {text!r} is not an expression: {_reason(exc)}") from None
        self._body = tree.body
        self.names = frozenset(_check(self._body, text))
        if names is not None:
            unknown = sorted(self.names - names)
            if unknown:
                raise ConfigError(
                    f"--where: {text!r} names {', '.join(unknown)}, which the search does not "
                    f"vary (parameters: {', '.join(sorted(names)) or 'none'})"
                )

    def holds(self, point: Mapping[str, Any]) -> bool:
        """Whether ``point`` satisfies the constraint.

        Raises:
            ConfigError: it cannot be evaluated on this point (a missing name, dividing by zero,
                comparing a word with a number).
        """
        try:
            return bool(_evaluate(self._body, point))
        except (ArithmeticError, TypeError, KeyError, ValueError) as exc:
            raise ConfigError(
                f"--where: {self.text!r} cannot be evaluated for {dict(point)}: "
                f"{type(exc).__name__}: {exc}"
            ) from None


def _check(node: ast.AST, text: str) -> set[str]:
    """The parameter names in the tree; a ConfigError at the first node that is not allowed."""
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            if child.id not in ("True", "False"):
                names.add(child.id)
            continue
        if isinstance(child, ast.Constant):
            if not isinstance(child.value, bool | int | float | str):
                raise ConfigError(f"--where: {text!r}: the constant {child.value!r} is not allowed")
            continue
        if isinstance(child, ast.BinOp) and type(child.op) not in _ARITHMETIC:
            raise ConfigError(f"--where: {text!r}: the operator {_show(child)!r} is not allowed")
        if isinstance(child, ast.UnaryOp) and not isinstance(
            child.op, ast.Not | ast.USub | ast.UAdd
        ):
            raise ConfigError(f"--where: {text!r}: the operator {_show(child)!r} is not allowed")
        if isinstance(child, ast.Compare) and any(type(op) not in _COMPARE for op in child.ops):
            raise ConfigError(f"--where: {text!r}: 'in' and 'is' are not allowed")
        if not isinstance(child, _ALLOWED):
            raise ConfigError(f"--where: {text!r}: {_show(child)!r} is not allowed")
    return names


_ALLOWED: Final = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Compare, ast.Name, ast.Load, ast.Constant,
    *_COMPARE, *_ARITHMETIC,
)  # fmt: skip


def _evaluate(node: ast.expr, point: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in ("True", "False"):
            return node.id == "True"
        return point[node.id]
    if isinstance(node, ast.BoolOp):
        values = (_evaluate(v, point) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, point)
        if isinstance(node.op, ast.Not):
            return not operand
        _number(operand)
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BinOp):
        left, right = _number(_evaluate(node.left, point)), _number(_evaluate(node.right, point))
        return _ARITHMETIC[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, point)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comparator, point)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise TypeError(f"{type(node).__name__} is not allowed")  # _check let nothing else through


def _number(value: Any) -> int | float:
    """Arithmetic is on numbers only: ``"a" * 10**9`` must not build a gigabyte of text."""
    if not isinstance(value, int | float):
        raise TypeError(f"arithmetic on {value!r}, which is not a number")
    return value


def _show(node: ast.AST) -> str:
    try:
        return ast.unparse(node)[:60]
    except Exception:  # unparse of an odd tree: the node's kind still says enough
        return type(node).__name__


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return exc.msg
    return type(exc).__name__
