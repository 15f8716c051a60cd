"""Tests of runlite.kpi: the safe KPI formula evaluator."""

import ast
import math
import operator
import time
import tracemalloc
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from runlite.errors import KpiError, ValidationError
from runlite.recipes.kpi import Formula, compile_formula, evaluate

SEED = "((Output) / (Output + ScrapQuantity)) * 100 if ((Output + ScrapQuantity) > 0) else None"
PERFORMANCE = "( IdealCycle / Recorded_time ) * 100 if ( Recorded_time > 0 ) else None"


def same(got, want):
    """Equal floats (NaN equal to NaN, -0.0 equal to 0.0), or both None."""
    if want is None or got is None:
        return got is None and want is None
    return type(got) is float and (got == want or (math.isnan(got) and math.isnan(want)))


# --- the seed systems' formulas ----------------------------------------------------------------

def test_seed_quality_formula():
    f = compile_formula(SEED, {"Output": 9.0, "ScrapQuantity": 0.0})  # the outcome's dependencies dict
    assert f.names == {"Output", "ScrapQuantity"}
    assert evaluate(f, {"Output": 9.0, "ScrapQuantity": 0.0}) == 100.0
    assert evaluate(f, {"Output": 9, "ScrapQuantity": 0}) == 100.0
    assert evaluate(SEED, {"Output": 0, "ScrapQuantity": 0}) is None
    assert evaluate(SEED, {"Output": 3.0, "ScrapQuantity": 1.0}) == 75.0
    assert evaluate(SEED, {"Output": None, "ScrapQuantity": 1.0}) is None


def test_performance_formula():
    f = compile_formula(PERFORMANCE, ["IdealCycle", "Recorded_time"])
    assert evaluate(f, {"IdealCycle": 30.0, "Recorded_time": 40.0}) == 75.0
    assert evaluate(f, {"IdealCycle": 30.0, "Recorded_time": 0.0}) is None
    assert evaluate(f, {"IdealCycle": 30.0, "Recorded_time": -5}) is None
    assert evaluate(f, {"IdealCycle": None, "Recorded_time": 10}) is None


def test_a_formula_text_is_parsed_once(monkeypatch):
    # What an evaluation costs is measured in benchmarks/bench_recipes.py; here, that the text
    # of a formula evaluated again and again is parsed and checked only the first time.
    parsed = []
    real_parse = ast.parse
    monkeypatch.setattr(ast, "parse", lambda *a, **k: parsed.append(a[0]) or real_parse(*a, **k))
    # Trailing blanks (allowed) make a text no other test evaluates: parsed texts are kept per text.
    text = "(Output * 2 + ScrapQuantity) / 4 if Output > 0 else None   "
    values = {"Output": 9.0, "ScrapQuantity": 2.0}
    assert [evaluate(text, values) for _ in range(50)] == [5.0] * 50
    assert evaluate(compile_formula(text), values) == 5.0
    assert len(parsed) == 1


# --- every allowed construct -------------------------------------------------------------------

V = {"a": 7.0, "b": 2.0, "z": 0.0, "n": None, "i": 3, "t": True}


@pytest.mark.parametrize("text, expected", [
    ("1", 1.0), ("2.5", 2.5), ("1_000", 1000.0), ("0x10", 16.0), ("1e300", 1e300), ("-1e300", -1e300),
    ("9" * 300, float("9" * 300)), ("a", 7.0), ("i", 3.0), ("t", 1.0), ("None", None),
    ("True", 1.0), ("False", 0.0), ("+a", 7.0), ("-a", -7.0), ("- -a", 7.0), ("not a", 0.0), ("not z", 1.0),
    ("not n", 1.0), ("a + b", 9.0), ("a - b", 5.0), ("a * b", 14.0), ("a / b", 3.5), ("a // b", 3.0),
    ("a % b", 1.0), ("-a % b", 1.0), ("a ** b", 49.0), ("b ** -1", 0.5), ("2 ** 0.5", 2 ** 0.5),
    ("(a + b) * b", 18.0), ("a + b * b", 11.0), ("-b ** 2", -4.0), ("2 ** 3 ** 2", 512.0),
    ("a < b", 0.0), ("a <= 7", 1.0), ("a > b", 1.0), ("a >= 8", 0.0), ("a == 7", 1.0), ("a != 7", 0.0),
    ("b < a < 10", 1.0), ("b < a < 5", 0.0), ("1 < 2 > 0 != 3 == 3 <= 3 >= 3", 1.0),
    ("a and b", 2.0), ("z and a", 0.0), ("a or b", 7.0), ("z or b", 2.0), ("n or b", 2.0), ("n and a", None),
    ("z or n", None), ("a and b and z", 0.0), ("z or z or a", 7.0), ("a > 1 and b > 1", 1.0),
    ("a if b else z", 7.0), ("a if z else b", 2.0), ("a if n else b", 2.0), ("1 if a > b else 2 if a < b else 3", 1.0),
    ("abs(-a)", 7.0), ("abs(a - 10)", 3.0), ("min(a, b)", 2.0), ("max(a, b)", 7.0), ("min(a, b, -1, 5)", -1.0),
    ("max(1, 2, 3, a)", 7.0), ("round(2.5)", 2.0), ("round(3.5)", 4.0), ("round(a / 3, 2)", 2.33),
    ("round(1234.5, -2)", 1200.0), ("round(a, 1e300)", 7.0), ("round(a, -1e300)", 0.0),
    ("(((a)))", 7.0), ("(a +\n b)", 9.0), ("  a + b", 9.0), ("\ta", 7.0), ("a\\\n+ b", 9.0),
    ("round(max(abs(-a), min(b, 3)) / 3, 1)", 2.3), ("(a > b) * 100", 100.0), ("True + True", 2.0),
])
def test_allowed(text, expected):
    assert same(evaluate(text, V), expected)


def test_results_are_float_or_none():
    for text in ["1", "i", "t", "a > b", "not a", "round(2.7)", "abs(-3)", "min(1, 2)", "i // 2", "True"]:
        assert type(evaluate(text, V)) is float, text


# --- None, division by zero, IEEE ---------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("n + 1", None), ("1 - n", None), ("n * 0", None), ("n / 1", None), ("n ** 0", None), ("-n", None),
    ("+n", None), ("abs(n)", None), ("min(a, n)", None), ("max(n, a)", None), ("round(n)", None),
    ("round(a, n)", None), ("a / z", None), ("a // z", None), ("a % z", None), ("z / z", None),
    ("a / (b - 2)", None), ("z ** -1", None), ("(-8) ** (1 / 3)", None), ("(-8) ** 2", 64.0),
    ("n < 1", 0.0), ("n > 1", 0.0), ("n <= n", 0.0), ("n >= 1", 0.0), ("1 < n", 0.0),
    ("n == None", 1.0), ("n != None", 0.0), ("a == None", 0.0), ("a != None", 1.0), ("n == 0", 0.0),
    ("n != 0", 1.0), ("z == None", 0.0), ("None == None", 1.0), ("1 < n < 2", 0.0), ("(a / z) == None", 1.0),
    ("a / z if z else -1", -1.0),
])
def test_none_and_division_by_zero(text, expected):
    assert same(evaluate(text, V), expected)


def test_ieee_values():
    inf, nan = math.inf, math.nan
    assert evaluate("x + 1", {"x": inf}) == inf
    assert math.isnan(evaluate("x - x", {"x": inf}))
    assert math.isnan(evaluate("x * 2", {"x": nan}))
    assert evaluate("x == x", {"x": nan}) == 0.0
    assert evaluate("x != x", {"x": nan}) == 1.0
    assert evaluate("x < 1 or x >= 1", {"x": nan}) == 0.0
    assert evaluate("1 if x else 2", {"x": nan}) == 1.0  # NaN is truthy, as in Python
    assert evaluate("1 / x", {"x": inf}) == 0.0
    assert evaluate("x / y", {"x": 1.0, "y": nan}) != evaluate("x / y", {"x": 1.0, "y": nan})
    assert evaluate("x * x", {"x": 1e300}) == inf  # overflow to inf is allowed for + - * /
    assert evaluate("x / y", {"x": 1e300, "y": 1e-300}) == inf
    assert evaluate("round(x)", {"x": inf}) == inf and math.isnan(evaluate("round(x)", {"x": nan}))
    assert evaluate("abs(x)", {"x": -inf}) == inf
    assert evaluate("x ** 0", {"x": nan}) == 1.0


# --- exponents, literals and other limits -------------------------------------------------------

@pytest.mark.parametrize("text", ["9**9**9", "10**10**10", "x ** 1001", "x ** -1001", "2 ** 2000", "x ** (10 * 101)",
                                  "x ** 1e300", "10.0 ** 500", "x if x else 10.0 ** 400", "1e301", "-1e301",
                                  "1" + "0" * 300, "9" * 301, "round(1.0, 1.5)", "2 ** (1 / 0 ** 2000)"])
def test_oversized_refused_at_compile_time(text):
    with pytest.raises(KpiError, match="exponent|overflow|too large|digits|whole number"):
        compile_formula(text)


def test_oversized_exponent_refused_at_evaluation():
    f = compile_formula("b ** e")
    assert evaluate(f, {"b": 2.0, "e": 1000}) == 2.0 ** 1000
    assert evaluate(f, {"b": 1.0, "e": -1000.0}) == 1.0
    for b, e in [(2.0, 1001), (1.0, -1e9), (0.5, math.inf), (10.0, 400.0), (-1e300, 3)]:
        with pytest.raises(KpiError, match="exponent|overflows"):
            evaluate(f, {"b": b, "e": e})
    assert math.isnan(evaluate(f, {"b": 2.0, "e": math.nan}))
    with pytest.raises(KpiError, match="whole number"):
        evaluate("round(x, d)", {"x": 1.0, "d": 0.5})


def test_depth_limit():
    ok = "(" * 63 + "-" * 63 + "a"  # parentheses make no node; 63 unary minus + the name = depth 64
    assert evaluate(ok + ")" * 63, {"a": 1.0}) == -1.0
    with pytest.raises(KpiError, match="nested more than 64"):
        compile_formula("-" * 64 + "a")
    assert evaluate("+".join(["a"] * 64), {"a": 1.0}) == 64.0
    with pytest.raises(KpiError, match="nested more than 64"):
        compile_formula("+".join(["a"] * 66))


def test_length_limit():
    assert evaluate("a" + " " * 9_998 + "", {"a": 1}) == 1.0
    with pytest.raises(KpiError, match="10,001 characters"):
        compile_formula("a" + " " * 10_000)


# --- forbidden constructs ------------------------------------------------------------------------

@pytest.mark.parametrize("text, message, column", [
    ("x.real", "attribute access", 0), ("1 + x[0]", "subscript", 4), ("x[1:2]", "subscript", 0),
    ("foo(x)", "call of 'foo'", 0), ("x + (lambda: 1)()", "call of an expression", 4), ("lambda: 1", "lambda", 0),
    ("max(x, y, key=z)", "keyword argument in max()", 14), ("max(*x)", "starred argument in max()", 4),
    ("[x for x in y]", "list comprehension", 0), ("{x for x in y}", "set comprehension", 0),
    ("{x: 1 for x in y}", "dict comprehension", 0), ("min(x for x in y)", "generator expression", 3),
    ("f'{x}'", "f-string", 0), ("'x'", "string literal", 0), ("b'x'", "bytes literal", 0), ("1j", "complex", 0),
    ("(y := 1)", "assignment expression", 1), ("await x", "await", 0), ("(yield x)", "yield", 1),
    ("(yield from x)", "yield from", 1), ("{1}", "set", 0), ("[1]", "list", 0), ("{1: 2}", "dict", 0),
    ("(1, 2)", "tuple", 0), ("1, 2", "tuple", 0), ("...", "Ellipsis", 0), ("x is None", "operator 'is'", 5),
    ("x is not None", "'is not'", 9), ("x in y", "operator 'in'", 5), ("x not in y", "'not in'", 9),
    ("~x", "operator ~", 0), ("x @ y", "operator @", 0), ("x << 1", "<<", 0), ("x >> 1", ">>", 0),
    ("x | y", "|", 0), ("x & y", "&", 0), ("x ^ y", "^", 0), ("__x + 1", "'__x'", 0),
    ("a + __class__", "'__class__'", 4),
    ("abs(x, y)", "abs() takes 1 argument", 0), ("round()", "round() takes 1 or 2", 0), ("min(x)", "at least 2", 0),
    ("round(1, 2, 3)", "1 or 2", 0), ("x if y", "not a valid expression", None), ("", "not a valid expression", None),
    ("x = 1", "not a valid expression", None), ("import os", "not a valid expression", None),
    ("\0", "null bytes", None), ("é + x.y", "attribute access", 4), ("  x.y", "attribute access", 2),
])
def test_forbidden(text, message, column):
    with pytest.raises(KpiError) as info:
        compile_formula(text)
    assert message in str(info.value)
    if column is not None:
        assert f"column {column})" in str(info.value)
        caret_line = str(info.value).splitlines()[-1]
        assert caret_line.index("^") - 2 == column  # the caret points at the construct


def test_error_is_a_validation_error():
    with pytest.raises(ValidationError):
        compile_formula("x.y")
    with pytest.raises(ValueError):
        compile_formula("x.y")


def test_position_on_later_line():
    with pytest.raises(KpiError, match=r"line 2, column 3") as info:
        compile_formula("(a +\n   b.c)")
    assert info.value.args[0].endswith("\n     ^")


ESCAPES = [
    "__import__('os')", "__import__('os').system('true')", "().__class__.__bases__[0].__subclasses__()",
    "(lambda: 1)()", "[x for x in ()]", "open('x')", "globals()", "locals()", "vars()", "eval('1')", "exec('1')",
    "getattr(x, 'y')", "f'{x}'", "f'{__import__(\"os\")}'", "9**9**9", "10**10**10", "(9**9)**(9**9)",
    "2 ** 2 ** 2 ** 2 ** 2 ** 2", "max(9**9**9, 1)", "x ** 9 ** 9",
    "(" * 100_000 + "1" + ")" * 100_000, "x + " * 250_000 + "x", "1" * 1_000_000, "(" * 4000 + "1" + ")" * 4000,
    "(" * 199 + "1" + ")" * 199 + "**" + "9" * 300, "-" * 9_999 + "1", " -" * 4_990 + "1", "x+" * 4_999 + "x",
    "not " * 2_490 + "x", "x if x else " * 800 + "x", "[" * 5000, "abs(" * 1900 + "x" + ")" * 1900,
    "9" * 4301, "1" * 9_999,
]


@pytest.mark.parametrize("text", ESCAPES, ids=[f"{e[:24]!r}...{len(e)}" for e in ESCAPES])
def test_escapes_refused_quickly_with_bounded_memory(text):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(KpiError):
            f = compile_formula(text)
            evaluate(f, {name: 1.0 for name in f.names})
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 30_000_000
    assert evaluate(SEED, {"Output": 9.0, "ScrapQuantity": 0.0}) == 100.0  # the interpreter is fine afterwards


def test_manual_formula_objects_are_checked_again():
    with pytest.raises(KpiError):
        evaluate(Formula("__import__('os')", frozenset()), {})
    assert evaluate(Formula("a + b", frozenset()), {"a": 1, "b": 2}) == 3.0


# --- names, dependencies, values ------------------------------------------------------------------

def test_dependencies():
    assert compile_formula("a + b", ["a", "b", "c"]).names == {"a", "b"}
    with pytest.raises(KpiError, match=r"unknown name 'c'.*the dependencies are: a, b"):
        compile_formula("a + b * c", ["a", "b"])
    with pytest.raises(KpiError, match="unknown name 'a'.*none"):
        compile_formula("a", [])
    with pytest.raises(KpiError, match="collection of names"):
        compile_formula("a", "a")


def test_function_names():
    # Called: the built-in (not a dependency). Bare: an ordinary dependency name.
    assert compile_formula("max(a, b)").names == {"a", "b"}
    assert compile_formula("max(a, b)", ["a", "b"]).names == {"a", "b"}
    assert evaluate("max + min * 2", {"max": 1, "min": 2}) == 5.0
    assert compile_formula("max + 1", ["max"]).names == {"max"}
    with pytest.raises(KpiError, match="'max' is called as a function but is also a dependency"):
        compile_formula("max(a, b)", ["a", "b", "max"])
    with pytest.raises(KpiError, match="'round' is used both as a dependency and as a function"):
        compile_formula("round(a) + round")


def test_values():
    f = compile_formula("a + b")
    assert evaluate(f, {"a": 1, "b": 2, "unused": "x"}) == 3.0
    assert evaluate(f, {"a": True, "b": Fraction(1, 2)}) == 1.5
    assert evaluate(f, {"a": 2 ** 1000, "b": 0}) == float(2 ** 1000)
    with pytest.raises(KpiError, match="no value for dependency 'b'"):
        evaluate(f, {"a": 1})
    with pytest.raises(KpiError, match="'a' must be a real number"):
        evaluate(f, {"a": "1", "b": 2})
    with pytest.raises(KpiError, match="real number"):
        evaluate(f, {"a": 10 ** 400, "b": 2})
    with pytest.raises(KpiError, match="real number"):
        evaluate(f, {"a": 1j, "b": 2})
    with pytest.raises(KpiError, match="mapping"):
        evaluate(f, None)
    with pytest.raises(KpiError, match="must be a str"):
        evaluate(123, {})
    with pytest.raises(KpiError, match="must be a str"):
        compile_formula(["a"])


def test_short_circuit_skips_errors_like_python():
    assert evaluate("x > 0 and y ** e", {"x": 0.0, "y": 2.0, "e": 5000}) == 0.0
    assert evaluate("1 if x > 0 else y ** e", {"x": 1.0, "y": 2.0, "e": 5000}) == 1.0
    assert evaluate("x > 1 > y ** e", {"x": 0.0, "y": 2.0, "e": 5000}) == 0.0


# --- Hypothesis: random trees against a reference, random text -------------------------------------

NAMES = ["a", "b", "c"]
BINOPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
          "//": operator.floordiv, "%": operator.mod, "**": operator.pow}
CMPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


class Refused(Exception):
    """The reference refuses (the implementation must raise KpiError)."""


def ref(node, env):
    """The documented semantics, evaluated directly on the tree with Python's float operators."""
    kind = node[0]
    if kind == "num":
        return float(node[1])
    if kind in ("const", "name"):
        v = node[1] if kind == "const" else env[node[1]]
        return None if v is None else float(v)
    if kind == "unary":
        x = ref(node[2], env)
        if node[1] == "not":
            return float(not x)
        return None if x is None else (-x if node[1] == "-" else x)
    if kind == "bin":
        op, a, b = node[1], ref(node[2], env), ref(node[3], env)
        if a is None or b is None or (op in ("/", "//", "%") and b == 0):
            return None
        if op != "**":
            return BINOPS[op](a, b)
        if abs(b) > 1000:
            raise Refused
        try:
            r = a ** b
        except ZeroDivisionError:
            return None
        except OverflowError:
            raise Refused from None
        return None if isinstance(r, complex) else r
    if kind == "cmp":
        a = ref(node[1], env)
        for op, right in node[2]:
            b = ref(right, env)
            if a is None or b is None:
                ok = (a is b) if op == "==" else (a is not b) if op == "!=" else False
            else:
                ok = CMPS[op](a, b)
            if not ok:
                return 0.0
            a = b
        return 1.0
    if kind == "bool":
        for sub in node[2]:
            v = ref(sub, env)
            if (node[1] == "or") == bool(v):
                return v
        return v
    if kind == "if":
        return ref(node[1], env) if ref(node[2], env) else ref(node[3], env)
    args = [ref(a, env) for a in node[2]]
    if None in args:
        return None
    fname = node[1]
    if fname == "abs":
        return abs(args[0])
    if fname in ("min", "max"):
        return (min if fname == "min" else max)(args)
    if len(args) == 1:
        return float(round(args[0])) if math.isfinite(args[0]) else args[0]
    if not args[1].is_integer():
        raise Refused
    return round(args[0], int(args[1]))


def children(node):
    kind = node[0]
    if kind in ("num", "const", "name"):
        return []
    if kind == "unary":
        return [node[2]]
    if kind == "bin":
        return [node[2], node[3]]
    if kind == "cmp":
        return [node[1]] + [r for _, r in node[2]]
    if kind == "if":
        return list(node[1:])
    return list(node[2])


def names_of(node):
    own = {node[1]} if node[0] == "name" else set()
    return own.union(*(names_of(c) for c in children(node)))


def depth(node):
    return 1 + max((depth(c) for c in children(node)), default=0)


def refused_at_compile_time(node):
    """Constant sub-expressions are computed at compile time; constant exponents are checked."""
    subtrees = [node]
    for sub in subtrees:
        subtrees.extend(children(sub))
        if not names_of(sub):
            try:
                ref(sub, {})
            except Refused:
                return True
        if sub[0] == "bin" and sub[1] == "**" and not names_of(sub[3]):
            try:
                e = ref(sub[3], {})
            except Refused:
                return True
            if e is not None and abs(e) > 1000:
                return True
    return False


def render(node, python=False):
    """Formula text of the tree (fully parenthesized).

    python=True writes every literal as a float and ``**`` as ``py_pow``, for Python's eval.
    """
    kind = node[0]
    r = lambda n: render(n, python)  # noqa: E731
    if kind == "num":
        v = float(node[1]) if python else node[1]
        return f"({v!r})" if math.copysign(1, v) < 0 else repr(v)
    if kind in ("const", "name"):
        return str(node[1])
    if kind == "unary":
        return f"({node[1]} {r(node[2])})"
    if kind == "bin" and python and node[1] == "**":
        return f"py_pow({r(node[2])}, {r(node[3])})"
    if kind == "bin":
        return f"({r(node[2])} {node[1]} {r(node[3])})"
    if kind == "cmp":
        return "(" + r(node[1]) + "".join(f" {op} {r(x)}" for op, x in node[2]) + ")"
    if kind == "bool":
        return "(" + f" {node[1]} ".join(r(x) for x in node[2]) + ")"
    if kind == "if":
        return f"({r(node[1])} if {r(node[2])} else {r(node[3])})"
    return f"{node[1]}(" + ", ".join(r(x) for x in node[2]) + ")"


numbers_ = st.one_of(st.integers(-1000, 1000), st.sampled_from([0, 1, 2, 0.5, -0.0, 1e300, 1e-300, 2.5]),
                     st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
leaves = st.one_of(
    numbers_.map(lambda v: ("num", v)),
    st.sampled_from([None, True, False]).map(lambda v: ("const", v)),
    st.sampled_from(NAMES).map(lambda n: ("name", n)),
)


def extend(kids):
    return st.one_of(
        st.tuples(st.just("unary"), st.sampled_from(["-", "+", "not"]), kids),
        st.tuples(st.just("bin"), st.sampled_from(list(BINOPS)), kids, kids),
        st.tuples(st.just("cmp"), kids, st.lists(st.tuples(st.sampled_from(list(CMPS)), kids), min_size=1, max_size=3)),
        st.tuples(st.just("bool"), st.sampled_from(["and", "or"]), st.lists(kids, min_size=2, max_size=3)),
        st.tuples(st.just("if"), kids, kids, kids),
        st.tuples(st.just("call"), st.just("abs"), st.lists(kids, min_size=1, max_size=1)),
        st.tuples(st.just("call"), st.sampled_from(["min", "max"]), st.lists(kids, min_size=2, max_size=3)),
        st.tuples(st.just("call"), st.just("round"), st.lists(kids, min_size=1, max_size=2)),
    )


trees = st.recursive(leaves, extend, max_leaves=16)
values = st.one_of(st.none(), st.booleans(), st.integers(-10, 10),
                   st.sampled_from([0.0, -0.0, 1.0, math.inf, -math.inf, math.nan]),
                   st.floats(allow_nan=True, allow_infinity=True, width=64))
envs = st.fixed_dictionaries({n: values for n in NAMES})


@settings(max_examples=400, deadline=None)
@given(trees, envs)
def test_random_trees_match_reference(tree, env):
    assume(depth(tree) <= 64)
    text = render(tree)
    if refused_at_compile_time(tree):
        with pytest.raises(KpiError):
            compile_formula(text)
        return
    f = compile_formula(text, NAMES)
    assert f.names == names_of(tree)
    try:
        want = ref(tree, env)
    except Refused:
        with pytest.raises(KpiError):
            evaluate(f, env)
        return
    got = evaluate(f, env)
    assert same(got, want), (text, env, got, want)


TOKENS = ["a", "b", "x", "1", "2.5", "1e308", "0", "None", "True", "(", ")", "+", "-", "*", "/", "//", "%", "**",
          "<", "==", "!=", ">=", "not", "and", "or", "if", "else", "abs", "min", "max", "round", ",", ".", "[", "]",
          "__class__", "'s'", "lambda", ":", "for", "in", "is", "~", "@", "{", "}", "=", ":=", "*", "9**9"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join)))
def test_random_text_only_raises_kpi_error(text):
    try:
        f = compile_formula(text)
    except KpiError:
        return
    assert isinstance(f.names, frozenset)
    for value in (1.5, 0.0, None, math.nan):
        try:
            result = evaluate(f, {name: value for name in f.names})
        except KpiError:
            continue
        assert result is None or type(result) is float
