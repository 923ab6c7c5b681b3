"""The stored form of a state in ``Latest`` (storage/_keys.py) orders as code points do,
compared as UTF-8 bytes (DynamoDB), as UTF-16 code units (dynalite) and as Python strings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from deploystatus.storage._keys import ordered, unordered

# Every character a state may hold, weighted towards the planes where the orders part.
states = st.text(
    st.one_of(
        st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]),
        st.sampled_from(["\ud7fe", "\ud7ff", "\ue000", "\uf8ff", "\uff21", "\uffff"]),
        st.sampled_from(["\U00010000", "\U0001f600", "\U000f0000", "\U0010fffd"]),
        st.sampled_from(["0", "9", "A", "F", "a"]),
    ),
    min_size=1,
    max_size=8,
)


def utf16(text: str) -> bytes:
    return text.encode("utf-16-be")  # big-endian: byte order is code-unit order


@given(states, states)
def test_the_stored_form_orders_as_code_points_on_every_engine(a: str, b: str) -> None:
    expected = (a > b) - (a < b)
    x, y = ordered(a), ordered(b)
    assert (x > y) - (x < y) == expected
    for encode in (str.encode, utf16):
        u, v = encode(x), encode(y)
        assert (u > v) - (u < v) == expected


@given(states)
def test_the_stored_form_reads_back(state: str) -> None:
    assert unordered(ordered(state)) == state


def test_the_pair_whose_orders_differ() -> None:
    fullwidth, emoji = "\uff21", "\U0001f600"
    assert utf16(fullwidth) > utf16(emoji)  # the raw strings: UTF-16 disagrees
    assert utf16(ordered(fullwidth)) < utf16(ordered(emoji))
    assert ordered("deploy-ok") == "deploy-ok"
