"""Tests of the pure protocol codecs; shared hypothesis strategies live here."""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

#: Quick runs: the codecs are pure and fast, a few hundred examples find the edges.
QUICK = settings(max_examples=200, deadline=None)

#: Text that can travel in a WebSocket text frame (no lone surrogates).
utf8_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]))

json_scalars: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | utf8_text
)

#: Values JSON round-trips exactly (lists and str-keyed dicts).
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet="abcdefgh_", max_size=6), children, max_size=4)
    ),
    max_leaves=8,
)

#: Peer garbage: arbitrary text (surrogates included) and arbitrary bytes.
garbage = st.text() | st.binary()
