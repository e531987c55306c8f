"""Where two models disagree most on a query no passage is judged for (a corpus without judgements,
or a query of one's own): where each model's first passage sits in the other, and the passage whose
rank moves most between them."""

from __future__ import annotations

from core.analysis.compare import Comparison, Moved


def biggest_move(result: Comparison) -> tuple[str, str, Moved] | None:
    """(model, other model, its move) for the shown passage whose rank differs most between the two
    models, or None when they rank every shown passage alike."""
    moves = [(result.left.model, result.right.model, m) for m in result.left_moves]
    moves += [(result.right.model, result.left.model, m) for m in result.right_moves]
    found = max(moves, key=lambda t: abs(t[2].change), default=None)
    return found if found and found[2].change else None


def sentence(result: Comparison) -> str:
    """One line on the biggest move, in plain words (no text from the passage)."""
    found = biggest_move(result)
    if found is None:
        return "The two models rank every passage shown alike."
    model, other, move = found
    return (
        f"They disagree most on the passage {model} ranks #{move.hit.rank:,} and {other} "
        f"#{move.other_rank:,} ({abs(move.change):,} places apart)."
    )


def show(cols, result: Comparison, total: int) -> None:
    """A metric per model: where the other model ranks its first passage."""
    sides = (
        (result.left, result.left_moves, result.right.model),
        (result.right, result.right_moves, result.left.model),
    )
    for col, (side, moves, other) in zip(cols, sides):
        col.metric(
            f"{side.model}'s first passage, in {other}",
            f"#{moves[0].other_rank:,}" if moves else "—",
            help=f"Where {other} ranks the passage {side.model} puts first, among all {total:,}: the "
            "lower, the more the two models disagree",
        )
