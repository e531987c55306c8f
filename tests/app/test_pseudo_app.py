"""The Training page's sample of the picked corpus's pseudo-queries (views.parts.pseudo_sample)."""

from __future__ import annotations

import json

from core.pipeline.cli import main
from tests.app.test_app import app_env, needs_app, open_page  # noqa: F401  (app_env: a fixture)


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


@needs_app
def test_training_shows_the_corpus_pseudo_queries_or_the_command_that_makes_them(app_env):
    at = open_page("views/pages/training.py")
    assert "python -m core pseudo --corpus msmarco" in captions(at)
    assert not any("pseudo-query" in t.value.columns for t in at.dataframe)

    assert main(["pseudo", "--corpus", "msmarco", "--artifacts", str(app_env)]) == 0
    at = open_page("views/pages/training.py")
    table = next(t.value for t in at.dataframe if "pseudo-query" in t.value.columns)
    assert set(table["kind"]) == {"ict", "crop"} and len(table) == 8  # no titles in MS MARCO
    assert all(table["what it should find"].str.len() > table["pseudo-query"].str.len())
    said = captions(at)
    assert "from a sentence cut out of the passage" in said and "earlier version" not in said

    path = app_env / "corpora" / "msmarco" / "pseudo_queries.jsonl"
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    header["pseudo_queries"]["corpus"] = "another"
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    assert "earlier version of the corpus" in captions(open_page("views/pages/training.py"))
    path.write_text("not json\n")
    assert any("not a pseudo-query file" in w.value for w in open_page("views/pages/training.py").warning)
