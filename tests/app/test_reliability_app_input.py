"""What protects the app from its input: a link's values are data, never markup (no link, no remote
image, no formatting reaches the page from a URL), one card renders a bounded amount of a passage, and
the Search page works with a single checkpoint (its examples then compare it with BM25). Runs the
committed random checkpoint over the tiny corpus, so it is quick."""

from __future__ import annotations

from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
CHECKPOINTS = ROOT / "artifacts"
INJECTIONS = {
    "k": "[Verify your account](https://evil.example)",
    "model": "![t](https://evil.example/p.png)",
}


def artifacts_with(names, tiny_jsonl, tmp_path, monkeypatch) -> Path:
    """An artifacts folder linking the committed checkpoints `names`, over the tiny corpus."""
    art = tmp_path / "artifacts"
    for name in names:
        if not (CHECKPOINTS / name / "model.pt").is_file():
            pytest.skip(f"needs the committed checkpoint {CHECKPOINTS / name / 'model.pt'}")
        (art / name).mkdir(parents=True)
        (art / name / "model.pt").symlink_to(CHECKPOINTS / name / "model.pt")
    monkeypatch.setenv("ARTIFACTS_DIR", str(art))
    monkeypatch.setenv("MSMARCO_SOURCE", str(tiny_jsonl))
    monkeypatch.delenv("CHROMA_HOST", raising=False)
    return art


@pytest.fixture
def one_checkpoint(tiny_jsonl, tmp_path, monkeypatch):
    """Only `random`, as after a build killed after its random stage."""
    return artifacts_with(["random"], tiny_jsonl, tmp_path, monkeypatch)


@pytest.fixture
def two_checkpoints(tiny_jsonl, tmp_path, monkeypatch):
    return artifacts_with(["random", "hard"], tiny_jsonl, tmp_path, monkeypatch)


def open_page(page: str, **params):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update(params)
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rendered(markdown: str) -> str:
    return MarkdownIt("commonmark").render(markdown)


def test_the_search_page_works_with_one_checkpoint(one_checkpoint):
    """It used to raise `'Lexical' object has no attribute 'vocab'` (its examples compare random, bm25)."""
    at = open_page("views/pages/search.py", q="how is coffee made")
    assert any('class="card' in h.value for h in at.html)


@pytest.mark.parametrize("key", INJECTIONS)
def test_a_links_values_are_shown_as_text_never_as_a_link_or_an_image(two_checkpoints, key):
    at = open_page("views/pages/search.py", q="how is coffee made", **{key: INJECTIONS[key]})
    (notice,) = [w.value for w in at.warning if "This link asks for" in w.value]
    html = rendered(notice)
    assert "<a " not in html and "<img" not in html, html
    assert f"<code>{INJECTIONS[key]}</code>" in html.replace("&quot;", '"'), "shown as typed"


def test_the_confused_pages_query_id_is_shown_as_text(two_checkpoints):
    at = open_page("views/pages/confused.py", qid=INJECTIONS["k"])
    (notice,) = [w.value for w in at.warning if "query id" in w.value]
    assert "<a " not in rendered(notice) and f"`{INJECTIONS['k']}`" in notice


def test_url_values_in_markdown_are_inline_code_whatever_they_hold():
    from views.parts.url import SHOWN_CHARS, shown

    for value in ("`x`", "a``b", "**bold** _it_ $x$", "<b>x</b>", "line\nbreak", "x" * 500):
        html = rendered(shown(value))
        assert html.count("<code>") == 1 and "<a " not in html and "<strong>" not in html, html
    assert len(shown("x" * 500)) <= SHOWN_CHARS + 2


def test_one_card_renders_a_bounded_part_of_a_huge_passage():
    """A 5 MB passage used to become an 18 MB card."""
    from views.parts import components

    huge = "coffee beans are roasted " * 200_000  # 5 MB
    html = components.marked(huge, "coffee")
    assert len(html) < 20 * components.CARD_CHARS and "more characters not shown" in html


def test_a_hybrid_picked_over_a_damaged_hybrid_json_is_a_message(two_checkpoints):
    (two_checkpoints / "hybrid.json").write_text("garbage{")
    at = open_page("views/pages/search.py", q="how is coffee made", model="hybrid:random")
    assert any("hybrid.json is damaged" in e.value for e in at.error), [e.value for e in at.error]
