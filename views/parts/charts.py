"""The pages' Plotly figures but the map (views.parts.map_chart): the rank slopegraph between two models
and the training curves (a run that continues another checkpoint drawn from where that one ended);
and what every figure shares: text of 14 px or more (`font_size`, `fonts`), labels shown as typed
(`plain`)."""

from __future__ import annotations

import html
import itertools
from pathlib import Path

import plotly.express as px
import plotly.graph_objects as go

from core.analysis.compare import Comparison
from core.common import artifacts
from core.runs import overview as runs
from views.parts.url import presenting

UP, DOWN, SAME = "#2e9e5b", "#d64541", "#adb5bd"
SLOPE_DEPTH = 20  # the slopegraph shows at most this many ranks per side
PLOT_PX = 240  # the height of a training chart's plot, its title and legend around it


def font_size() -> int:
    """The charts' text size in px: at least 14 (a projector's back row), larger in presentation mode."""
    return 20 if presenting() else 14


def fonts(fig: go.Figure) -> go.Figure:
    """Every text of `fig` at `font_size()` or larger (ticks, legend, labels, annotations)."""
    size = font_size()
    fig.update_layout(font=dict(size=size), legend_font_size=size, title_font_size=size + 2)
    fig.update_xaxes(tickfont_size=size, title_font_size=size)  # Streamlit's chart theme sets its own
    fig.update_yaxes(tickfont_size=size, title_font_size=size)
    fig.update_annotations(font_size=size)
    fig.update_traces(textfont_size=size, selector=lambda t: "textfont" in t)
    return fig


def plain(text: str) -> str:
    """Text for a Plotly label, shown as typed: Plotly renders tags such as <b> and <a> in labels."""
    return html.escape(str(text), quote=False)


# --- rank movement between two models ------------------------------------------------------------


def rank_slopes(result: Comparison, k: int) -> go.Figure:
    """Each passage of either model's top k (at most SLOPE_DEPTH) as a line from its rank on the left
    to its rank on the right, each end labelled with its rank: green, solid and ending in ▲ when the
    right model ranks it higher, red, dashed and ending in ▼ when lower, grey and dotted when the same
    (direction never by colour alone). Passages beyond the shown ranks sit below them, one row each in
    rank order; the judged passage's line is thick."""
    depth = min(k, SLOPE_DEPTH)
    ranks = {}
    for move in result.left_moves[:depth]:
        ranks[move.hit.pid] = (move.hit.rank, move.other_rank, move.hit)
    for move in result.right_moves[:depth]:
        ranks.setdefault(move.hit.pid, (move.other_rank, move.hit.rank, move.hit))
    rows = []  # per side: each rank beyond those shown -> a row below
    for side in (0, 1):
        beyond = sorted({v[side] for v in ranks.values()} - set(range(1, depth + 1)))
        rows.append({r: depth + 1.5 + i for i, r in enumerate(beyond)})
    fig = go.Figure()
    for left, right, hit in ranks.values():
        colour, dash, end = (
            (UP, "solid", "triangle-up")
            if right < left
            else (DOWN, "dash", "triangle-down")
            if right > left
            else (SAME, "dot", "circle")
        )
        ys = [rows[side].get(r, r) for side, r in enumerate((left, right))]
        labels = [f"#{r:,}" for r in (left, right)]
        fig.add_trace(
            go.Scatter(
                x=[0, 1],
                y=ys,
                mode="lines+markers+text",
                text=labels,
                textposition=["middle left", "middle right"],
                showlegend=False,
                line=dict(color=colour, width=5 if hit.judged else 2, dash=dash),
                marker=dict(size=[7, 11], symbol=["circle", end]),
                hovertext=plain(("✓ judged · " if hit.judged else "") + hit.text[:90]),
                hoverinfo="text",
            )
        )
    lowest = max([depth, *rows[0].values(), *rows[1].values()])
    names = [plain(result.left.model), plain(result.right.model)]
    fig.update_layout(
        height=70 + int(1.5 * font_size()) * (lowest + 1),  # a row per rank, its label clear of the next
        margin=dict(l=10, r=10, t=30, b=10),
        xaxis=dict(
            tickvals=[0, 1], ticktext=names, range=[-0.35, 1.35], side="top", showgrid=False, zeroline=False
        ),
        yaxis=dict(
            autorange="reversed",
            showgrid=False,
            zeroline=False,
            tickvals=[depth + 1.5] if lowest > depth else [],
            ticktext=["beyond"],
        ),
    )
    return fonts(fig)


# --- training curves -----------------------------------------------------------------------------


def _checkpoint_name(init_from: str) -> str:
    """The app's name of the checkpoint file a run started from (run-ID for a run's own)."""
    folder = Path(init_from).parent
    return artifacts.RUN_PREFIX + folder.name if folder.parent.name == "runs" else folder.name


def epoch_offsets(logs: dict[str, dict]) -> dict[str, int]:
    """Per run, the epochs it continues: a run started from another shown checkpoint (`init_from`, as
    hard from random) is drawn from where that one's training ended."""
    offsets = {}

    def offset(name: str, seen: tuple = ()) -> int:
        start = (logs[name].get("config", {}).get("train", {}).get("init_from")) or ""
        parent = _checkpoint_name(start) if start else None
        if parent not in logs or parent in seen:
            return 0
        return offset(parent, (*seen, name)) + len(logs[parent].get("epochs") or [{}]) - 1

    for name in logs:
        offsets[name] = offset(name)
    return offsets


def _layout(fig: go.Figure, title: str, y: str) -> go.Figure:
    """A training chart's title, axes and legend: the legend below the epoch axis, a run per row (its
    label wrapped), the chart as much taller as its legend is."""
    size = font_size()
    fig.for_each_trace(lambda t: t.update(name=wrapped(t.name)))
    lines = sum(t.name.count("<br>") + 1 for t in fig.data if t.showlegend is not False)
    top, below, legend = int(size * 2.8), int(size * 3.6), int(lines * size * 1.4) + 10
    fig.update_layout(
        title=dict(text=title, y=1 - size * 0.8 / (top + PLOT_PX + below + legend), yanchor="top"),
        height=top + PLOT_PX + below + legend,
        margin=dict(l=10, r=10, t=top, b=below + legend),
        xaxis_title="epoch",
        yaxis_title=y,
        legend=dict(
            title_text="",
            orientation="h",
            yanchor="top",
            y=-below / PLOT_PX,
            x=0,
            entrywidth=1,
            entrywidthmode="fraction",
        ),
    )
    return fonts(fig)


def wrapped(label: str, width: int = 34) -> str:
    """A run's label over lines of about `width` characters, broken at its ' · ' separators."""
    lines = [""]
    for part in label.split(" · "):
        joined = f"{lines[-1]} · {part}" if lines[-1] else part
        lines[-1:] = [joined] if len(joined) <= width or not lines[-1] else [lines[-1] + " ·", part]
    return "<br>".join(lines)


def training_figures(logs: dict[str, dict], labels: dict[str, str], k: int) -> list[go.Figure]:
    """Batch loss, active share (both smoothed), epoch loss (the margin drawn only for triplet-loss
    runs, the one loss it applies to) and validation per epoch, every run in one colour throughout."""
    batches, epochs = runs.curves(logs)
    offsets = epoch_offsets(logs)
    batches["x"] = batches.x + batches.run.map(offsets).fillna(0)
    epochs["epoch"] = epochs.epoch + epochs.run.map(offsets).fillna(0)
    batches["run"], epochs["run"] = batches.run.map(labels), epochs.run.map(labels)
    order = [labels[n] for n in logs]
    colours = dict(zip(order, itertools.cycle(px.colors.qualitative.Plotly)))
    style = dict(color="run", color_discrete_map=colours, category_orders={"run": order})
    loss = px.line(epochs.dropna(subset=["loss"]), x="epoch", y="loss", markers=True, **style)
    triplet = {
        labels[n]
        for n, log in logs.items()
        if log.get("config", {}).get("train", {}).get("loss") == "triplet"
    }
    for margin in sorted(epochs[epochs.run.isin(triplet)].margin.unique()):
        loss.add_hline(
            y=margin, line_dash="dot", line_color="gray", annotation_text=f"triplet margin {margin:g}"
        )
    long = epochs.melt(id_vars=["run", "epoch"], value_vars=["mrr@10", f"recall@{k}"], var_name="metric")
    return [
        _layout(px.line(batches, x="x", y="loss_smooth", **style), "Batch loss (smoothed)", "loss"),
        _layout(
            px.line(batches, x="x", y="active_smooth", range_y=[0, 1], **style),
            "Active triplets (inside the margin)",
            "share",
        ),
        _layout(loss, "Epoch loss", "loss"),
        _layout(
            px.line(long, x="epoch", y="value", line_dash="metric", markers=True, range_y=[0, 1], **style),
            f"Validation MRR@10, Recall@{k}",
            "score",
        ),
    ]
