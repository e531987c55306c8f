"""core.data.text: tokeniser cases, mojibake repair, Unicode, truncation, and properties (hypothesis)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.data.text import _CONTROL, normalize, tokenize


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("Hello, World!", ["hello", ",", "world", "!"]),
        ("I don't know", ["i", "do", "n't", "know"]),
        ("we can't go", ["we", "ca", "n't", "go"]),
        ("John's car", ["john", "'s", "car"]),
        ("they're here", ["they", "'re", "here"]),
        ("a well-known fact", ["a", "well-known", "fact"]),
        ("costs $1,000.50 today", ["costs", "$", "1,000.50", "today"]),
        ("born in the U.S. in 1990", ["born", "in", "the", "u.s.", "in", "1990"]),
        ("e-mail me at 10am", ["e-mail", "me", "at", "10", "am"]),
        ("", []),
        ("   ", []),
    ],
)
def test_tokenize_cases(text, tokens):
    assert tokenize(text) == tokens


def test_mojibake_is_repaired():
    # MS MARCO stores curly quotes and dashes as UTF-8 bytes decoded as Latin-1
    broken = "doesn\u00e2\u0080\u0099t (c.1590 \u00e2\u0080\u0093 1657)"
    assert normalize(broken) == "doesn't (c.1590 - 1657)"
    assert tokenize(broken)[:2] == ["does", "n't"]
    assert not any("\u0080" <= ch <= "\u009f" for ch in normalize(broken))


def test_mojibake_with_lost_bytes():
    assert normalize("whatâs new â the world") == "what's new - the world"
    assert normalize("pâte à choux") == "pâte à choux"  # a real â is left alone


def test_unicode_and_emoji_survive():
    assert tokenize("Café naïve 😀") == ["café", "naïve", "😀"]


def test_truncation():
    assert tokenize("one two three four", max_len=2) == ["one", "two"]


# --- properties (hypothesis) ----------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3000)


@given(ANY_TEXT)
def test_tokens_are_lower_case_non_empty_and_without_whitespace(text):
    for tok in tokenize(text):
        assert tok and tok == tok.lower() and not any(ch.isspace() for ch in tok)


@given(ANY_TEXT, st.integers(0, 50))
def test_max_len_keeps_a_prefix(text, n):
    assert tokenize(text, n) == tokenize(text)[:n]


@given(st.text(st.characters(max_codepoint=127), max_size=500))
def test_the_ascii_fast_path_equals_the_full_normalisation(text):
    import unicodedata

    from core.data.text import _LOST_DASH, _LOST_QUOTE, _MOJIBAKE, _PUNCT_MAP, _redecode

    slow = _MOJIBAKE.sub(_redecode, text)
    slow = unicodedata.normalize("NFKC", _LOST_DASH.sub("-", _LOST_QUOTE.sub("'", slow))).translate(
        _PUNCT_MAP
    )
    assert normalize(text) == _CONTROL.sub(" ", slow)
