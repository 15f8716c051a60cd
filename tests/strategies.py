"""Hypothesis strategies shared by the tests."""

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
