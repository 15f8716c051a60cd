"""A safe evaluator for KPI formulas: Python-like expressions over dependency names.

A formula such as ``(Output / (Output + ScrapQuantity)) * 100 if (Output + ScrapQuantity) > 0
else None`` is parsed with ``ast.parse`` and checked against a whitelist; it is never given to
``eval``. Allowed: number literals, dependency names, ``None``/``True``/``False``, unary
``+ - not``, binary ``+ - * / // % **``, (chained) comparisons ``< <= > >= == !=``, ``and``,
``or``, ``x if cond else y`` and calls of ``abs``, ``min``, ``max`` (two or more arguments) and
``round`` (one or two), positional arguments only. Anything else raises ``KpiError`` naming
the construct and its position.

Semantics (decisions):

- Every number is a float: int literals, int/bool inputs and bool results (``1.0``/``0.0``)
  are converted, so Python never builds huge ints; ``evaluate`` returns a float or None.
- Any arithmetic or function call with a None operand gives None; ``/``, ``//``, ``%`` by zero
  and ``0 ** negative`` give None; a negative base with a fractional exponent gives None (no
  real result). Comparisons with None are False, except ``==``/``!=``, which compare identity.
  ``not``, ``and``, ``or`` and ``if`` use Python truthiness (None is false) and short-circuit.
- NaN and infinities follow IEEE (and Python's float operators); ``+ - * /`` may overflow to
  inf. ``**`` is refused (KpiError) when ``|exponent| > 1000`` or the result overflows; a
  constant exponent is checked at compile time.
- Sub-expressions without names are computed once at compile time, so an error in one
  (``9 ** 9 ** 9``) refuses the formula even in a branch that would not be taken.
- ``abs``, ``min``, ``max``, ``round`` used as a bare name are ordinary dependency names; a
  call of one of them is the built-in, and is refused if that name is also a dependency
  (given in ``dependencies`` or used bare in the same formula).
- Names starting with ``__`` are refused. A dependency missing from ``values``, or a value
  that is not a real number or None, raises KpiError.

Limits: text <= 10,000 characters; AST nesting depth <= 64 (parentheses add none, but a chain
``a + b + ...`` of n terms nests n - 1 deep; RecursionError/MemoryError from ``ast.parse`` become
KpiError); literals with ``abs > 1e300`` or more than 300 digits are refused. The checked,
compiled closures are cached by text, so ``evaluate`` on a str costs a dict look-up.
"""

from __future__ import annotations

import ast
import functools
import numbers
import operator
import warnings
from typing import Any, Callable, Iterable, Mapping

import attrs

from ..errors import KpiError
from .._validation import shown

MAX_LENGTH = 10_000
MAX_DEPTH = 64
MAX_LITERAL = 1e300
MAX_DIGITS = 300
MAX_EXPONENT = 1000
FUNCTIONS = frozenset({"abs", "min", "max", "round"})
_TOO_MANY_DIGITS = 10 ** MAX_DIGITS

_Fn = Callable[[dict], Any]

_CONSTRUCTS = {
    "Attribute": "attribute access", "Subscript": "subscript", "Call": "call", "Lambda": "lambda",
    "ListComp": "list comprehension", "SetComp": "set comprehension", "DictComp": "dict comprehension",
    "GeneratorExp": "generator expression", "JoinedStr": "f-string", "FormattedValue": "f-string",
    "NamedExpr": "assignment expression (:=)", "Await": "await", "Yield": "yield",
    "YieldFrom": "yield from", "Set": "set", "List": "list", "Dict": "dict", "Tuple": "tuple",
    "Starred": "starred argument", "Slice": "slice", "Invert": "operator ~", "MatMult": "operator @",
    "LShift": "operator <<", "RShift": "operator >>", "BitOr": "operator |", "BitXor": "operator ^",
    "BitAnd": "operator &", "Is": "operator 'is'", "IsNot": "operator 'is not'", "In": "operator 'in'",
    "NotIn": "operator 'not in'",
}


@attrs.frozen
class Formula:
    """A checked KPI formula: its text and the dependency names it uses."""

    text: str
    names: frozenset[str]


def compile_formula(text: str, dependencies: Iterable[str] | None = None) -> Formula:
    """Check ``text`` and return it as a Formula; KpiError if any construct is not allowed.

    If ``dependencies`` is given, every name in the formula must be one of them.
    """
    names, called, _ = _build(_text(text))
    if dependencies is not None:
        if isinstance(dependencies, str):
            raise KpiError("dependencies must be a collection of names, not a str")
        allowed = frozenset(dependencies)
        unknown = sorted(names - allowed)
        if unknown:
            raise KpiError(f"unknown name {unknown[0]!r} in KPI formula {_short(text)!r}; "
                           f"the dependencies are: {', '.join(sorted(allowed)) or '(none)'}")
        clash = sorted(called & allowed)
        if clash:
            raise KpiError(f"{clash[0]!r} is called as a function but is also a dependency "
                           f"in KPI formula {_short(text)!r}; rename the dependency")
    return Formula(text, names)


def evaluate(formula: Formula | str, values: Mapping[str, float | int | None]) -> float | None:
    """The value of ``formula`` (a Formula or its text) with these dependency values.

    Returns a float, or None when the result is undefined (None input, division by zero...).
    """
    text = _text(formula.text if isinstance(formula, Formula) else formula)
    names, _, fn = _build(text)
    env = {}
    for name in names:
        try:
            value = values[name]
        except KeyError:
            raise KpiError(f"no value for dependency {name!r} of KPI formula {_short(text)!r}") from None
        except Exception as exc:
            raise KpiError(f"values must be a mapping of names to numbers, not {type(values).__name__}") from exc
        if value is not None and type(value) is not float:
            value = _number(name, value)
        env[name] = value
    return fn(env)


def _number(name: str, value: Any) -> float:
    """``value`` as a float, or KpiError if it is not a real number."""
    if isinstance(value, (int, float)) or isinstance(value, numbers.Real):  # fast path first
        try:
            return float(value)
        except (OverflowError, ValueError, TypeError):
            pass
    raise KpiError(f"value of {name!r} must be a real number or None, not {shown(value)}")


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _text(text: Any) -> str:
    """``text`` if it is a str of allowed length (checked before it is hashed or parsed)."""
    if not isinstance(text, str):
        raise KpiError(f"a KPI formula must be a str, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise KpiError(f"KPI formula is {len(text):,} characters long; at most {MAX_LENGTH:,} are allowed")
    return text


@functools.lru_cache(maxsize=1024)
def _build(text: str) -> tuple[frozenset[str], frozenset[str], _Fn]:
    """Parse and check ``text``: (names used as values, names called, evaluation closure)."""
    stripped = text.lstrip(" \t")  # like eval(): leading blanks are not an indentation error
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:  # report a 0-based column in the unstripped text
        col = (exc.offset or 1) - 1 + (len(text) - len(stripped) if exc.lineno == 1 else 0)
        where = "" if exc.lineno is None else f" (line {exc.lineno}, column {col})"
        raise KpiError(f"KPI formula {_short(text)!r} is not a valid expression: {exc.msg}{where}") from None
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
        raise KpiError(f"KPI formula {_short(text)!r} cannot be parsed ({type(exc).__name__}: "
                       f"{str(exc)[:100] or 'too complex'})") from None
    builder = _Builder(stripped, len(text) - len(stripped))
    fn, _ = builder.build(tree.body, 1)
    if builder.names & builder.called:
        name = sorted(builder.names & builder.called)[0]
        raise KpiError(f"{name!r} is used both as a dependency and as a function in {_short(text)!r}")
    return frozenset(builder.names), frozenset(builder.called), fn


def _pow(a: float, b: float) -> float | None:
    """``a ** b``; None if undefined or complex, KpiError if ``|b| > 1000`` or it overflows."""
    if not abs(b) <= MAX_EXPONENT and b == b:
        raise KpiError(f"exponent {b!r} is out of range (|exponent| <= {MAX_EXPONENT})")
    try:
        r = a ** b
    except ZeroDivisionError:
        return None
    except OverflowError:
        raise KpiError(f"{a!r} ** {b!r} overflows") from None
    return None if type(r) is complex else r


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: lambda a, b: a / b if b else None, ast.FloorDiv: lambda a, b: a // b if b else None,
           ast.Mod: lambda a, b: a % b if b else None, ast.Pow: _pow}


def _ordered(op):
    return lambda a, b: a is not None and b is not None and op(a, b)


_COMPARE = {ast.Eq: lambda a, b: a is b if a is None or b is None else a == b,
            ast.NotEq: lambda a, b: a is not b if a is None or b is None else a != b,
            ast.Lt: _ordered(operator.lt), ast.LtE: _ordered(operator.le),
            ast.Gt: _ordered(operator.gt), ast.GtE: _ordered(operator.ge)}


def _round(x: float | None, ndigits: float | None = 0.0, one_arg: bool = True) -> float | None:
    """Python's ``round`` on floats, with None propagation; inf and NaN round to themselves."""
    if x is None or ndigits is None:
        return None
    if one_arg:
        return float(round(x)) if x - x == 0 else x  # finite: Python's round; inf/nan: unchanged
    if not ndigits.is_integer():
        raise KpiError(f"round() needs a whole number of digits, not {ndigits!r}")
    return round(x, int(max(-400.0, min(400.0, ndigits))))


class _Builder:
    """Turns a checked AST into nested closures ``fn(env) -> float | None``."""

    def __init__(self, text: str, shift: int):
        self.lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self.shift = shift
        self.names: set[str] = set()
        self.called: set[str] = set()

    def fail(self, node: ast.AST, what: str) -> KpiError:
        """A KpiError for ``what`` at ``node``, with its (0-based) column and a caret."""
        lineno = getattr(node, "lineno", 1)
        line = self.lines[lineno - 1] if lineno <= len(self.lines) else ""
        col = len(line.encode()[:getattr(node, "col_offset", 0)].decode(errors="ignore"))
        if lineno == 1:
            line, col = " " * self.shift + line, col + self.shift
        start = max(0, col - 40)
        where = f"column {col}" if lineno == 1 else f"line {lineno}, column {col}"
        return KpiError(f"{what} in KPI formula ({where}):\n  {line[start:start + 80]}\n  {' ' * (col - start)}^")

    def refuse(self, node: ast.AST, construct: str | None = None) -> KpiError:
        kind = construct or _CONSTRUCTS.get(type(node).__name__, type(node).__name__)
        return self.fail(node, f"{kind} is not allowed")

    def build(self, node: ast.expr, depth: int) -> tuple[_Fn, bool]:
        """The closure for ``node`` and whether it is constant (uses no names)."""
        if depth > MAX_DEPTH:
            raise self.fail(node, f"expression is nested more than {MAX_DEPTH} levels deep")
        fn, const = self._build(node, depth + 1)
        if const and not isinstance(node, ast.Constant):
            try:
                value = fn({})
            except KpiError as exc:
                raise self.fail(node, f"constant sub-expression cannot be computed ({exc})") from None
            fn = lambda env: value  # noqa: E731
        return fn, const

    def _build(self, node: ast.expr, depth: int) -> tuple[_Fn, bool]:
        if isinstance(node, ast.Constant):
            value = node.value
            if value is None or type(value) is bool:
                value = None if value is None else float(value)
            elif type(value) in (int, float):
                if type(value) is int and abs(value) >= _TOO_MANY_DIGITS:
                    raise self.fail(node, f"number literal with more than {MAX_DIGITS} digits")
                if not abs(value) <= MAX_LITERAL:
                    raise self.fail(node, f"number literal {value!r:.40} is too large (|x| <= 1e300)")
                value = float(value)
            else:
                kind = {str: "string", bytes: "bytes", complex: "complex number"}.get(type(value), repr(value))
                raise self.refuse(node, f"{kind} literal")
            return (lambda env: value), True
        if isinstance(node, ast.Name):
            name = node.id
            if name.startswith("__"):
                raise self.refuse(node, f"name {name!r} (starting with '__')")
            self.names.add(name)
            return (lambda env: env[name]), False
        if isinstance(node, ast.UnaryOp):
            f, const = self.build(node.operand, depth)
            if isinstance(node.op, ast.Not):
                return (lambda env: 0.0 if f(env) else 1.0), const
            if isinstance(node.op, ast.USub):
                return (lambda env: None if (v := f(env)) is None else -v), const
            if isinstance(node.op, ast.UAdd):
                return f, const
            raise self.refuse(node, _CONSTRUCTS.get(type(node.op).__name__))
        if isinstance(node, ast.BinOp):
            impl = _BINOPS.get(type(node.op))
            if impl is None:
                raise self.refuse(node, _CONSTRUCTS.get(type(node.op).__name__))
            lf, lc = self.build(node.left, depth)
            rf, rc = self.build(node.right, depth)
            if impl is _pow and rc and (exponent := rf({})) is not None:
                try:  # a constant exponent is checked now
                    _pow(1.0, exponent)
                except KpiError as exc:
                    raise self.fail(node.right, str(exc)) from None

            def binop(env):
                a, b = lf(env), rf(env)
                return None if a is None or b is None else impl(a, b)
            return binop, lc and rc
        if isinstance(node, ast.BoolOp):
            built = [self.build(v, depth) for v in node.values]
            fns, const = [f for f, _ in built], all(c for _, c in built)
            stop = isinstance(node.op, ast.Or)  # `or` stops at the first true value, `and` at the first false

            def boolop(env):
                for f in fns:
                    v = f(env)
                    if bool(v) is stop:
                        return v
                return v
            return boolop, const
        if isinstance(node, ast.Compare):
            first, const = self.build(node.left, depth)
            pairs = []
            for op, right in zip(node.ops, node.comparators):
                cmp = _COMPARE.get(type(op))
                if cmp is None:
                    raise self.refuse(right, _CONSTRUCTS.get(type(op).__name__))
                f, c = self.build(right, depth)
                pairs.append((cmp, f))
                const = const and c

            def compare(env):
                a = first(env)
                for cmp, f in pairs:
                    b = f(env)
                    if not cmp(a, b):
                        return 0.0
                    a = b
                return 1.0
            return compare, const
        if isinstance(node, ast.IfExp):
            (tf, tc), (bf, bc), (of, oc) = (self.build(n, depth) for n in (node.test, node.body, node.orelse))
            return (lambda env: bf(env) if tf(env) else of(env)), tc and bc and oc
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        raise self.refuse(node)

    def _call(self, node: ast.Call, depth: int) -> tuple[_Fn, bool]:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
            what = f"call of {func.id!r}" if isinstance(func, ast.Name) else "call of an expression"
            raise self.refuse(node, f"{what} (only abs, min, max and round can be called)")
        name, nargs = func.id, len(node.args)
        if node.keywords:
            raise self.refuse(node.keywords[0].value, f"keyword argument in {name}()")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.refuse(arg, f"starred argument in {name}()")
        built = [self.build(a, depth) for a in node.args]
        lo, hi, wanted = {"abs": (1, 1, "1 argument"), "round": (1, 2, "1 or 2 arguments")}.get(
            name, (2, MAX_LENGTH, "at least 2 arguments"))
        if not lo <= nargs <= hi:
            raise self.fail(node, f"{name}() takes {wanted}, not {nargs}")
        self.called.add(name)
        fns, const = [f for f, _ in built], all(c for _, c in built)
        if name == "abs":
            f = fns[0]
            return (lambda env: None if (v := f(env)) is None else abs(v)), const
        if name == "round":
            if nargs == 1:
                return (lambda env: _round(fns[0](env))), const
            return (lambda env: _round(fns[0](env), fns[1](env), False)), const
        pick = min if name == "min" else max

        def minmax(env):
            args = [f(env) for f in fns]
            return None if None in args else pick(args)
        return minmax, const
