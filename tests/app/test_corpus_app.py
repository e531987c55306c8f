"""The app on corpora other than MS MARCO, through AppTest: the picker switches every page's corpus
and the URL keeps it; every page renders on a CSV of passages (no queries) and on a BEIR collection
(judged queries); Confused and the metrics say they need judgements where there are none, and stay
quiet where there are; the upload panel adds a file, shows a bad one's problem as one message, and
the corpus it adds is picked and searchable; Home's transfer table is drawn from metrics.json's
"corpora" section, and nothing is drawn without it.

Runs the real checkpoints (artifacts/random and artifacts/hard, or those under $ARTIFACTS_DIR) over
a tiny MS MARCO-schema corpus and two tiny corpora the tests write (tests/app/corpus_files.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from core.data.corpora import added
from core.data.tables import Columns
from core.pipeline import new_corpus
from tests.app.corpus_files import write_beir, write_csv, zip_folder
from tests.conftest import tiny_rows

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
REAL_ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR") or ROOT / "artifacts")
CHECKPOINTS = {name: REAL_ARTIFACTS / name / "model.pt" for name in ("random", "hard")}
PAGES = ("home", "search", "compare", "embeddings", "confused", "training", "corpora")
NEEDS = "needs judgements"

pytestmark = pytest.mark.skipif(
    not all(p.is_file() for p in CHECKPOINTS.values()),
    reason=f"needs the real checkpoints ({', '.join(map(str, CHECKPOINTS.values()))})",
)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """An artifacts folder linking the real checkpoints, a tiny MS MARCO-schema corpus as the demo
    corpus, and two added corpora: `notes` (a CSV, no queries) and `tinybeir` (BEIR, judged)."""
    art = tmp_path_factory.mktemp("artifacts")
    files = tmp_path_factory.mktemp("files")
    for name, path in CHECKPOINTS.items():
        (art / name).mkdir()
        (art / name / "model.pt").symlink_to(path)
    for extra in ("metrics.json", "hybrid.json"):
        if (REAL_ARTIFACTS / extra).is_file():
            shutil.copy(REAL_ARTIFACTS / extra, art / extra)
    msmarco = files / "tiny.jsonl"
    msmarco.write_text("\n".join(json.dumps(r) for r in tiny_rows()) + "\n")
    beir = write_beir(files / "tinybeir")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARTIFACTS_DIR", str(art))
        mp.setenv("MSMARCO_SOURCE", str(msmarco))
        mp.delenv("CHROMA_HOST", raising=False)
        quiet = dict(artifacts=art, log=lambda _: None, index=False, maps=False)
        new_corpus.add("notes", str(write_csv(files / "notes.csv")), Columns(text="snippet"), **quiet)
        new_corpus.add("tinybeir", str(beir), **quiet)
        yield art, files


def run_page(page: str, **params):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=900)  # a first UMAP fit on a loaded 2-core machine
    at.query_params.update(params)
    at.switch_page(f"views/pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def said(at) -> str:
    """Every markdown, caption, notice and metric label of the page, as one text."""
    parts = [m.value for m in (*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success)]
    return " ".join(parts + [m.label for m in at.metric])


def cards(at) -> list[str]:
    """Each result card's HTML, its highlights taken out."""
    return [h.value.replace("<mark>", "").replace("</mark>", "") for h in at.html if 'class="card' in h.value]


@pytest.mark.parametrize("corpus", ["notes", "tinybeir"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_added_corpus(corpora, page, corpus):
    at = run_page(page, corpus=corpus, q="where does the python snake live")
    assert at.session_state.corpus == corpus and at.query_params["corpus"] == corpus
    assert not at.warning or all("corpus" not in w.value for w in at.warning)
    if page == "embeddings":  # a few dozen points: PCA, and the page says so
        assert "flattened by PCA" in " ".join(c.value for c in at.caption)


def test_search_answers_from_the_picked_corpus_and_the_url_keeps_it(corpora):
    at = run_page("search", corpus="notes", q="what is a latte", model="hard")
    assert "latte is espresso" in cards(at)[0]
    assert "no judged queries" in said(at) and "examples" not in " ".join(e.label for e in at.expander)
    at.text_input(key="q").set_value("reticulated python").run()
    assert at.query_params["corpus"] == "notes" and at.query_params["q"] == "reticulated python"
    assert "longest snake" in cards(at)[0]
    at.selectbox(key="corpus").set_value("tinybeir").run()  # the picker switches the page's corpus
    assert at.query_params["corpus"] == "tinybeir"
    assert "longest snake" in cards(at)[0]  # the same passage, from the other corpus
    at.selectbox(key="corpus").set_value("msmarco").run()
    assert "corpus" not in at.query_params  # the default stays out of the URL
    assert not any("longest snake" in c for c in cards(at))


def test_the_pickers_last_entry_opens_the_upload_panel_and_keeps_the_corpus(corpora):
    at = run_page("search", corpus="notes")
    at.selectbox(key="corpus").set_value("+add").run()
    assert not at.exception and [h for h in at.subheader if h.value == "Add a corpus"]
    assert at.session_state.corpus == "notes" and at.query_params["corpus"] == "notes"


def test_a_link_to_a_corpus_not_here_says_so_and_shows_the_demo(corpora):
    at = run_page("search", corpus="nowhere")
    assert at.session_state.corpus == "msmarco"
    assert any("nowhere" in w.value and "not on this machine" in w.value for w in at.warning)


def test_confused_needs_judgements_on_passages_alone_and_is_quiet_elsewhere(corpora):
    notes = run_page("confused", corpus="notes")
    assert f"Confused {NEEDS}" in said(notes) and "qrels/test.tsv" in said(notes)
    assert not notes.dataframe
    for corpus in ("msmarco", "tinybeir"):
        at = run_page("confused", corpus=corpus)
        assert NEEDS not in said(at) and at.dataframe, corpus
        assert any(m.label == "Validation queries" for m in at.metric)


def test_home_says_metrics_need_judgements_only_on_a_corpus_without_them(corpora):
    assert f"Measuring the models {NEEDS}" in said(run_page("home", corpus="notes"))
    for corpus in ("msmarco", "tinybeir"):
        assert NEEDS not in said(run_page("home", corpus=corpus)), corpus
    assert "eval --corpus tinybeir" in said(run_page("home", corpus="tinybeir"))


def test_compare_without_judgements_shows_where_the_models_disagree(corpora):
    at = run_page("compare", corpus="notes", q="the moon and its orbit")
    labels = [m.label for m in at.metric]
    assert labels[:2] == ["random's first passage, in hard", "hard's first passage, in random"]
    assert "dataset" not in said(at) and "Judged passage" not in said(at)
    assert "disagree most" in said(at) or "rank every passage shown alike" in said(at)


def test_home_transfer_table_from_metrics_and_nothing_without(corpora):
    art, _ = corpora
    metrics = json.loads((art / "metrics.json").read_text()) if (art / "metrics.json").is_file() else {}
    metrics.pop("corpora", None)
    (art / "metrics.json").write_text(json.dumps(metrics))
    assert not [s for s in run_page("home").subheader if "Off MS MARCO" in s.value]
    scores = new_corpus.evaluate("tinybeir", art, models=("random", "hard", "bm25"))
    section = {"source": "tinybeir", "queries": 18, "passages": 24, "models": scores}
    (art / "metrics.json").write_text(json.dumps({**metrics, "corpora": {"tinybeir": section}}))
    try:
        at = run_page("home")
        assert [s for s in at.subheader if "Off MS MARCO" in s.value]
        table = next(d.value for d in at.dataframe if "nDCG@10" in d.value.columns)
        assert list(table.index) == ["random", "hard", "bm25"]
        assert table.loc["bm25", "nDCG@10"] == pytest.approx(scores["bm25"]["ndcg@10"])
        best = max(("random", "hard"), key=lambda t: scores[t]["ndcg@10"])
        assert f"**{best}** (nDCG@10 {scores[best]['ndcg@10']:.3f})" in said(at)
    finally:
        (art / "metrics.json").write_text(json.dumps(metrics))


def test_upload_panel_adds_a_csv_picks_it_and_it_is_searchable(corpora):
    art, files = corpora
    at = run_page("corpora")
    at.file_uploader[0].set_value(("Class Notes.csv", (files / "notes.csv").read_bytes(), "text/csv")).run()
    assert at.text_input(key="corpus_name_0").placeholder == "class-notes"
    assert at.selectbox(key="corpus_text_0").options[1:] == ["ref", "heading", "snippet"]
    at.button(key="corpus_add_0").click().run()  # the text column left to the guess: none fits
    assert len(at.error) == 1 and "which column holds the passages' text" in at.error[0].value
    assert "corpus-upload-" not in at.error[0].value and "class-notes" not in added(art)
    at.selectbox(key="corpus_text_0").set_value("snippet").run()
    at.button(key="corpus_add_0").click().run()
    assert not at.exception and not at.error
    assert at.session_state.corpus == "class-notes" and at.query_params["corpus"] == "class-notes"
    assert "Added" in said(at) and "class-notes" in added(art)
    at.switch_page("views/pages/search.py")
    at.query_params["q"] = "the louvre"
    at.run()
    assert "louvre museum" in cards(at)[0]


def test_upload_panel_adds_a_beir_zip_with_its_judgements(corpora):
    art, files = corpora
    data = zip_folder(files / "tinybeir", files / "course.zip").read_bytes()
    at = run_page("corpora")
    at.file_uploader[0].set_value(("course.zip", data, "application/zip")).run()
    assert not [s for s in at.selectbox if s.key == "corpus_text_0"]  # a zip has no column to pick
    at.button(key="corpus_add_0").click().run()
    assert not at.exception and not at.error and at.session_state.corpus == "course"
    assert "18 queries" in said(at)
    confused = run_page("confused", corpus="course")
    assert NEEDS not in said(confused) and confused.dataframe
