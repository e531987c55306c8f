"""Every tower through the Training page's launcher: picked in the form, trained in the background on
the tiny corpus of conftest, labelled by its tower, then searchable on the Search page, each card's
score explained as meaning + shared words that add up to it (to the card's rounding)."""

from __future__ import annotations

import re

import pytest

from core.common.settings import CHOICES
from tests.app.test_training import (
    APP,
    tiny_env,  # noqa: F401  (a fixture)
    wait_for,
)

QUERY = "what is the capital of france"
LABELS = {"avg": "average of word vectors", "rnn": "RNN (tanh) 8", "gru": "GRU 8", "lstm": "LSTM 8"}


def launched(tower: str) -> str:
    """Train `tower` from the page (1 epoch, hidden 8, batch 8); the name of its finished run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("views/pages/training.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert list(at.selectbox(key="train_tower").options) == list(CHOICES["tower"].values())
    at.selectbox(key="train_tower").set_value(tower)
    at.number_input(key="train_hidden").set_value(8)
    at.number_input(key="train_batch_size").set_value(8)
    at.number_input(key="train_max_queries").set_value(0)
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception, [e.value for e in at.exception]

    def finished():
        at.run()
        return at.success or at.error

    wait_for(finished, 180, f"the {tower} run to finish", step=1)
    assert at.success and LABELS[tower] in at.success[0].value, [e.value for e in at.error]
    table = at.dataframe[0].value
    row = table[table.status == "done"].iloc[0]
    assert row.tower == tower and LABELS[tower] in row["run"]  # the page's readable label
    return row["id"]


def explained_cards(run: str) -> list[tuple[float, str]]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"model": run, "q": QUERY, "k": "3"})
    at.switch_page("views/pages/search.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="model").value == run
    out = []
    for card in (h.value for h in at.html if 'class="card' in h.value):
        score = re.search(r'<span class="score">cos (-?[\d.]+)</span>', card)
        why = re.search(r'<div class="why"[^>]*>(.*?)</div>', card)
        out.append((float(score.group(1)), why.group(1)))
    return out


@pytest.mark.parametrize("tower", list(CHOICES["tower"]))
def test_each_tower_trains_from_the_launcher_and_is_searchable_with_its_scores_explained(tiny_env, tower):
    run = launched(tower)
    cards = explained_cards(run)
    assert len(cards) == 3
    for score, why in cards:
        parts = re.fullmatch(r"meaning (-?[\d.]+) \+ shared words (-?[\d.]+)( \(.*\))?", why)
        assert parts, why
        assert float(parts.group(1)) + float(parts.group(2)) == pytest.approx(score, abs=0.011), why
