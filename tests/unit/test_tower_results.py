"""The towers' stored results as the app reads them (`arms.read_results`: a missing or damaged file is
left out) and Home's line on the shipped pair's tower (`headline.tower_sentence`): every figure read
from the results, quiet until the shipped tower and another are measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.pipeline.arms import TOWER_ARMS, read_results, result_path
from views.parts.headline import shipped_model, tower_sentence

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {"tower": "gru", "bidirectional": True}


def result(full: float, per_s: float) -> dict:
    return {"dense": {"full": {"mrr@10": full}}, "encoding": {"passages_per_s": per_s}}


def results(**towers) -> dict:
    return {f"tower-{t}": result(*figures) for t, figures in towers.items()}


def test_read_results_leaves_out_what_is_missing_or_damaged(tmp_path):
    for name, text in (
        ("tower-gru", json.dumps(result(0.6, 900))),
        ("tower-avg", "{not json"),
        ("tower-rnn", "[1]"),
    ):
        result_path(tmp_path, name).parent.mkdir(parents=True, exist_ok=True)
        result_path(tmp_path, name).write_text(text)
    assert read_results(tmp_path, TOWER_ARMS) == {"tower-gru": result(0.6, 900)}


def test_the_line_is_quiet_until_the_shipped_tower_and_another_are_measured():
    assert tower_sentence(SHIPPED, {}) == ""
    assert tower_sentence(SHIPPED, results(gru=(0.6, 900))) == ""
    assert tower_sentence(SHIPPED, results(avg=(0.5, 9000), lstm=(0.62, 500))) == ""  # no GRU result
    assert tower_sentence({}, results(gru=(0.6, 900), avg=(0.5, 9000))) == ""  # no shipped config


def test_the_line_names_the_shipped_tower_and_every_measured_figure():
    line = tower_sentence(SHIPPED, results(gru=(0.612, 900), avg=(0.431, 9000), rnn=(0.533, 2000)))
    assert line.startswith("The shipped pair's tower is a **bidirectional GRU**")
    assert (
        "0.612 against average of word vectors 0.431, RNN (tanh) 0.533; the best of the 3, by +0.079 over RNN"
        in line
    )
    assert "LSTM" not in line, "an unmeasured tower is not cited"
    faster = tower_sentence(SHIPPED, results(gru=(0.612, 900), avg=(0.611, 9000)))
    assert faster.endswith(
        "the best of the 2, by +0.001 over average of word vectors, which encodes 9,000 passages/s "
        "to its 900."
    )


@pytest.mark.parametrize(
    "lstm, why",
    [
        ((0.62, 500), "LSTM scores +0.008 more but encodes 500 passages/s to its 900"),
        ((0.62, 1000), "LSTM scores +0.008 more at this budget"),
    ],
)
def test_a_better_tower_is_said_with_what_it_costs(lstm, why):
    line = tower_sentence(SHIPPED, results(gru=(0.612, 900), avg=(0.431, 9000), lstm=lstm))
    assert why in line and "the best" not in line


STORED = read_results(ROOT / "artifacts", TOWER_ARMS)


@pytest.mark.skipif(
    "tower-gru" not in STORED or len(STORED) < 2,
    reason="needs the committed results of the GRU and another tower (python -m core experiments)",
)
def test_home_cites_the_committed_results():
    line = tower_sentence(shipped_model(ROOT / "artifacts"), STORED)
    assert "**bidirectional GRU**" in line
    for r in STORED.values():
        assert f"{r['dense']['full']['mrr@10']:.3f}" in line
