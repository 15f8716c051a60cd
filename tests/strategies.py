"""Hypothesis strategies shared by the tests."""

import contextlib

from hypothesis import strategies as st

# Names: any valid Unicode without control characters or surrogates, not blank.
name_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40
).filter(lambda s: s.strip())

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(name_text, children, max_size=4)),
    max_leaves=12,
)
metadata = st.dictionaries(name_text, json_values, max_size=6)
tags = st.lists(name_text, max_size=6, unique=True)
folder = st.lists(
    name_text.filter(lambda s: "/" not in s and s not in (".", "..")), max_size=3
).map(lambda parts: "/" + "/".join(parts))

# ---------------------------------------------------------------- hostile inputs (tests/stress/test_fuzz.py)

import fractions as _fractions  # noqa: E402 - the hostile-input section is self-contained
import json as _json  # noqa: E402
import os as _os  # noqa: E402
import struct as _struct  # noqa: E402

# Pieces that break naive SQL, parsers, terminals and encoders.
HOSTILE_PIECES = [
    "'", '"', ";", "--", "/*", "*/", "(", ")", "[", "]", ",", "\\", "%", "_", "\x00", "\n", "\t", " ",
    "1=1; DROP TABLE runs", "' OR '1'='1", "\ud800", "\udfff", _os.fsdecode(b"\xff"), _os.fsdecode(b"a\x80b"),
    "\u202eevil", "e\u0301", "\u0000\u0001\u007f", "😀", "\ufeff", "\u2028", "..", "/", "./x", "../x",
    "9" * 400, "1e999", "-0", "9223372036854775808", "-9223372036854775809", "NaN", "Infinity", "null",
]
# Any code point, lone surrogates included (the default alphabet leaves them out).
any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=30)
hostile_text = st.one_of(
    any_text,
    st.sampled_from(HOSTILE_PIECES),
    st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), any_text), max_size=5).map("".join),
    st.binary(max_size=12).map(_os.fsdecode),  # surrogateescape strings, as argv and file names arrive
    st.sampled_from([257, 4097, 10_001, 70_000]).map(lambda n: "x" * n),  # around the length limits
)
non_text = st.one_of(st.none(), st.booleans(), st.integers(), st.binary(max_size=8), st.just(("x",)))
hostile_names = st.one_of(name_text, hostile_text, non_text)


def _float_of_bits(bits: int) -> float:
    return _struct.unpack("<d", _struct.pack("<Q", bits))[0]


# NaNs with payloads and either sign, -0.0, subnormals, the largest finite values, infinities.
special_floats = st.one_of(
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e308, -1.7976931348623157e308,
                     float("inf"), float("-inf"), float("nan")]),
    st.integers(0, (1 << 52) - 1).flatmap(
        lambda payload: st.sampled_from([0x7FF0000000000000, 0xFFF0000000000000]).map(
            lambda top: _float_of_bits(top | payload | (0 if payload else 1)))),
    st.floats(),
)
edge_ints = st.one_of(
    st.sampled_from([0, -1, (1 << 53), (1 << 53) + 1, -(1 << 53) - 1, (1 << 63) - 1, -(1 << 63), 1 << 63,
                     -(1 << 63) - 1, 1 << 64, 10 ** 400, -(10 ** 4000)]),
    st.integers(),
)


def _numpy_scalars():
    try:
        import numpy as np
    except ImportError:
        return st.nothing()
    kinds = [np.float16, np.float32, np.float64, np.longdouble, np.int8, np.int32, np.int64, np.uint64, np.bool_]
    return st.tuples(st.sampled_from(kinds), st.one_of(st.floats(), st.integers(-(1 << 63), (1 << 64) - 1))).map(
        lambda kv: _numpy_or_none(np, *kv))


def _numpy_or_none(np, kind, value):
    with np.errstate(all="ignore"):
        try:
            return kind(value)
        except (OverflowError, ValueError):
            return kind(0)


metric_values = st.one_of(
    special_floats, edge_ints, st.booleans(), _numpy_scalars(),
    st.sampled_from([None, "1.0", b"1", 1j, _fractions.Fraction(1, 3), _fractions.Fraction(10 ** 400, 7)]),
)
# JSON values at the edges: special floats, ints beyond 64 bits, hostile strings and keys, nesting.
hostile_json = st.recursive(
    st.one_of(st.none(), st.booleans(), edge_ints, special_floats, hostile_text, st.binary(max_size=4)),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.one_of(name_text, hostile_text), children, max_size=3)),
    max_leaves=8,
)


def _quoted(value: str) -> str:
    """A LangSmith string literal (JSON escapes are a subset of what it reads)."""
    return _json.dumps(value, ensure_ascii=False)


_LS_FUNCS = ["eq", "neq", "gt", "gte", "lt", "lte", "has", "search", "in", "exists", "like"]
_LS_FIELDS = ["name", "run_type", "status", "start_time", "latency", "total_tokens", "error", "tags", "metadata",
              "metadata_key", "metadata_value", "input_key", "feedback_score", "is_root", "inputs", "folder"]
_LS_VALUES = st.one_of(
    hostile_text.map(_quoted), st.sampled_from(["null", "true", "false", "1", "-2.5", "1e308", "1e999",
                                                "9223372036854775808", '"5s"', '"success"', '"llm"', "[]"]),
    st.lists(st.sampled_from(['"a"', "1", "null", '"x"']), max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
)
_ls_leaf = st.one_of(
    st.builds(lambda f, fld, v: f"{f}({fld}, {v})", st.sampled_from(_LS_FUNCS), st.sampled_from(_LS_FIELDS),
              _LS_VALUES),
    st.builds(lambda v: f"search({v})", hostile_text.map(_quoted)),
    st.builds(lambda fld: f"exists({fld})", st.sampled_from(_LS_FIELDS)),
    st.builds(lambda d: f"has(metadata, {_quoted(d)})",
              st.dictionaries(st.sampled_from(["k", "lr"]), st.sampled_from(["1", '"x"', "NaN", "1e999", "[[1]]"]),
                              max_size=2).map(lambda d: "{" + ", ".join(f'"{k}": {v}' for k, v in d.items()) + "}")),
)
# Leaves whose function, field and value types fit, with hostile text inside the values.
_ls_typed_leaf = st.one_of(
    st.builds(lambda f, fld, v: f"{f}({fld}, {v})", st.sampled_from(["eq", "neq", "gt", "lte"]),
              st.sampled_from(["name", "error", "run_type", "folder", "metadata_key"]), hostile_text.map(_quoted)),
    st.builds(lambda f, v: f"{f}(name, {v})", st.sampled_from(["like", "search"]), hostile_text.map(_quoted)),
    st.builds(lambda v: f"has(tags, {v})", hostile_text.map(_quoted)),
    st.builds(lambda vs: f"in(name, [{', '.join(vs)}])", st.lists(hostile_text.map(_quoted), max_size=3)),
    st.builds(lambda f, v: f"{f}(total_tokens, {v})", st.sampled_from(["eq", "gt", "lt"]),
              st.one_of(edge_ints.map(str), special_floats.map(repr))),
    st.builds(lambda v: f"eq(status, {v})", st.sampled_from(['"success"', '"error"', '"running"', '"lost"'])),
    st.builds(lambda v: f"eq(metadata_value, {v})", st.one_of(hostile_text.map(_quoted), edge_ints.map(str))),
)
langsmith_grammar = st.recursive(
    st.one_of(_ls_typed_leaf, _ls_leaf),
    lambda inner: st.one_of(
        st.builds(lambda fn, xs: f"{fn}({', '.join(xs)})", st.sampled_from(["and", "or"]),
                  st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: f"not({x})", inner)),
    max_leaves=6,
)
# Grammar pieces and hostile pieces in any order: mostly refused, sometimes valid.
_LS_PIECES = _LS_FUNCS + _LS_FIELDS + ["and", "or", "not", "(", ")", "[", "]", ",", '"', "'", " "]
langsmith_soup = st.lists(st.one_of(st.sampled_from(_LS_PIECES), st.sampled_from(HOSTILE_PIECES), _LS_VALUES),
                          max_size=12).map("".join)
langsmith_deep = st.builds(lambda n, fn, leaf: f"{fn}(" * n + leaf + ")" * n,
                           st.one_of(st.integers(0, 70), st.integers(0, 3000)),  # the limit is 64
                           st.sampled_from(["not", "and", "or"]), _ls_typed_leaf)
langsmith_text = st.one_of(langsmith_grammar, _ls_typed_leaf, any_text, langsmith_soup, langsmith_deep,
                           st.sampled_from(['in(name, ' + '[' * 3000, 'eq(name, "' + 'x' * 12_000 + '")',
                                            'like(name, "' + '%' * 60_000 + '")', "eq(total_tokens, " + "9" * 5000 + ")"]))

_SV_FIELDS = ["name", "status", "folder.path", "created", "ended", "metadata.lr", "system.cwd", "lr", "metadta.lr", "tag",
              "alert.name", "alert.status", "event.message", "metric.loss.min", "metric.loss.var", "description"]
_SV_OPS = ["==", "!=", "<", ">", "<=", ">=", "contains", "not contains", "exists", "not exists"]
_SV_VALUES = st.one_of(hostile_text, st.sampled_from(["1", "0.5", "-2", "1h", "1e300y", "9" * 5000, "true",
                                                      "null", "completed", "critical", "'quoted'", ""]))
simvue_one = st.one_of(
    st.builds(lambda f, o, v: f"{f} {o} {v}", st.one_of(st.sampled_from(_SV_FIELDS), hostile_text),
              st.sampled_from(_SV_OPS), _SV_VALUES),
    st.builds(lambda neg, t: f"{neg}has tag.{t}", st.sampled_from(["", "not "]), hostile_text),
    any_text,
    st.lists(st.one_of(st.sampled_from(_SV_FIELDS + _SV_OPS), st.sampled_from(HOSTILE_PIECES)), max_size=6).map(
        " ".join),
)
simvue_filters = st.one_of(st.lists(simvue_one, min_size=1, max_size=3), simvue_one)

# KPI formulas: arbitrary text, grammar-built expressions, hostile constructs and deep nesting.
_KPI_ATOMS = st.one_of(st.sampled_from(["a", "b", "c", "0", "1", "2.5", "1e-300", "9", "None", "True", "-0.0"]),
                       st.integers(-10, 10).map(str))
_KPI_EDGE_ATOMS = st.sampled_from(["1e300", "1e308", "10**400", "abs", "__class__", "1e999", "0x10", "1_000"])
kpi_grammar = st.recursive(
    st.one_of(_KPI_ATOMS, _KPI_ATOMS, _KPI_ATOMS, _KPI_EDGE_ATOMS),
    lambda inner: st.one_of(
        st.builds(lambda x, op, y: f"({x} {op} {y})", inner,
                  st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<", "<=", "==", "!=", "and", "or"]), inner),
        st.builds(lambda op, x: f"{op}{x}", st.sampled_from(["-", "+", "not ", "-", "~"]), inner),
        st.builds(lambda x: f"abs({x})", inner), st.builds(lambda x: f"round({x})", inner),
        st.builds(lambda fn, xs: f"{fn}({', '.join(xs)})", st.sampled_from(["min", "max", "round"]),
                  st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x, c, y: f"({x} if {c} else {y})", inner, inner, inner)),
    max_leaves=10,
)
_KPI_HOSTILE = ["9**9**9", "2**1000", "2.0**1024", "10**10**10", "(-8)**(1/3)", "0**-1", "__import__('os')",
                "a.__class__", "lambda: 1", "[1]", "{}", "a[0]", "f'{a}'", "open('x')", "a := 1", "yield", "*a",
                "max(*a)", "round(a, ndigits=2)", "1 if a", "\x00", "\ud800", "a\nb", "# comment", "1;2", "a is b"]
kpi_text = st.one_of(
    kpi_grammar, kpi_grammar, any_text, st.sampled_from(_KPI_HOSTILE),
    st.builds(lambda n, w: w[0] * n + "a" + w[1] * n, st.integers(0, 5000),
              st.sampled_from([("(", ")"), ("-", ""), ("not ", ""), ("abs(", ")"), ("a + ", ""), ("a ** ", "")])),
    st.lists(st.one_of(_KPI_ATOMS, st.sampled_from(["+", "**", "(", ")", ",", "if", "else", " "] + _KPI_HOSTILE)),
             max_size=10).map("".join),
)
kpi_values = st.one_of(special_floats, edge_ints, st.booleans(), st.none(), _numpy_scalars(),
                       st.sampled_from(["1", b"1", 1j, _fractions.Fraction(10 ** 400, 3)]))


try:
    import numpy  # noqa: F401
    CODEC_MODES = ("pure", "numpy")
except ImportError:  # the numpy accelerator is optional
    CODEC_MODES = ("pure",)


@contextlib.contextmanager
def codec_mode(mode: str):
    """The pure path, or numpy even for tiny columns."""
    from runlite.codec import accel

    with accel.numpy_mode(mode == "numpy", min_items=0):
        yield
