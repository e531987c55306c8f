"""Text normalisation and tokenisation, close to the Stanford tokenizer GloVe 6B was built with.

`tokenize` is pure: lower-case tokens, no vocabulary lookups. Mapping tokens to ids (with a
fallback for unknown compound words) lives in `core.data.vocab`.
"""

from __future__ import annotations

import re
import unicodedata

TOKENIZER_VERSION = 2  # bump on any change to normalize/tokenize: checkpoints keyed on it retrain

# Lucene's English stop words: the set bm25s ships as `bm25s.stopwords.STOPWORDS_EN`, written out so
# that tokenising a query does not import bm25s, which imports numba (0.4 s of a fresh app's first search)
LUCENE_STOP_WORDS = (  # noqa: SIM905 (as a list literal it is formatted one word per line)
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "
    "these they this to was will with"
).split()

# Runs of Latin-1 characters that are really UTF-8 bytes decoded with the wrong codec
# (MS MARCO's "â\x80\x99" for a right quote): a lead byte 0xC2-0xF4, then continuation bytes.
_MOJIBAKE = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]{1,3}"
)
_PUNCT_MAP = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u200b": "",
        "\u200e": "",
        "\u200f": "",
        "\ufeff": "",
    }
)
# Where the continuation bytes were lost, only "â" remains: "whatâs" for "what's", " â " for a dash.
_LOST_QUOTE = re.compile(r"(?<=[A-Za-z])â(?=(?:s|t|re|ll|ve|d|m)\b)")
_LOST_DASH = re.compile(r"(?<=\s)â(?=\s)")
_CONTROL = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f]")

# Order matters: clitics before words so "don't" -> "do", "n't" (as in GloVe's vocabulary).
_TOKEN = re.compile(
    r"""
      [^\W\d_]+(?=n't\b)                     # "do" of "don't", "ca" of "can't"
    | n't\b | '(?:s|re|ve|ll|d|m)\b          # clitics
    | \d+(?:[.,:/]\d+)*                      # numbers: 1,000  3.5  9/11
    | (?:[^\W\d_]\.){2,}                     # abbreviations: u.s.  e.g.
    | [^\W_]+(?:(?:[-&]|'(?!(?:s|re|ve|ll|d|m)\b))[^\W_]+)*  # words: well-known, o'neil
    | [^\w\s]                                # any other symbol on its own
    """,
    re.VERBOSE,
)


def _redecode(match: re.Match) -> str:
    chunk = match.group(0)
    for codec in ("latin-1", "cp1252"):
        try:
            return chunk.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
    return chunk


def normalize(text: str) -> str:
    """Repair mojibake, fold typographic punctuation to ASCII, drop control characters."""
    if text.isascii():  # nothing to repair or fold (three quarters of MS MARCO's passages)
        return _CONTROL.sub(" ", text)
    text = _MOJIBAKE.sub(_redecode, text)
    text = _LOST_DASH.sub("-", _LOST_QUOTE.sub("'", text))
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT_MAP)
    return _CONTROL.sub(" ", text)


def tokenize(text: str, max_len: int | None = None) -> list[str]:
    """Lower-cased GloVe-style tokens of `text`, cut to `max_len` tokens when given."""
    tokens = _TOKEN.findall(normalize(text).lower())
    return tokens[:max_len] if max_len is not None else tokens
