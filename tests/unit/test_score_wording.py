"""Score sentences on the cards (views.parts.components.explanation): the printed figures add up to
the printed score, a part's words to the part, and a fused score's groups say what each weighted
ranker gives before its parts, so nothing reads as multiplied twice."""

import re

from core.retrieval.explain import Explanation, Part
from views.parts.components import adding_up, explanation


def test_printed_parts_add_up_to_the_printed_total():
    assert adding_up([0.0049, 0.0051], 0.01) == ["0.005", "0.005"]
    printed = adding_up([0.41245, 0.21345], 0.6259)  # 0.412 + 0.213 would print 0.625
    assert f"{sum(map(float, printed)):.3f}" == "0.626", printed
    one = Explanation(
        0.0045, "cos", (Part("meaning", 0.0), Part("shared words", 0.0045, (("company", 0.0045),)))
    )
    text = explanation(one)
    words = re.search(r"shared words ([\d.]+) \(company ([\d.]+)\)", text)
    assert words and words.group(1) == words.group(2), text  # never "0.00 (company 0.01)"


def test_a_fused_score_says_what_each_weighted_ranker_gives():
    fused = Explanation(
        0.3826,
        "fused",
        (
            Part("meaning", 0.1711, source="hard × 0.65"),
            Part("shared words", 0.0915, (("paris", 0.0605), ("capital", 0.031)), source="hard × 0.65"),
            Part("shared words", 0.12, (("paris", 0.12),), source="bm25 × 0.35 ÷ 14.20 (its best)"),
        ),
    )
    text = explanation(fused)
    assert text.startswith("hard × 0.65 gives 0.263 = meaning 0.171 + shared words 0.092"), text
    given = [float(v) for v in re.findall(r"gives ([\d.]+)", text)]
    assert f"{sum(given):.3f}" == f"{fused.score:.3f}", text
