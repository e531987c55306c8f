"""The pages' Plotly figures: the embedding maps, the rank slopegraph between two models and the
training curves (a run that continues another checkpoint drawn from where that one ended)."""

from __future__ import annotations

import html
import itertools
from pathlib import Path

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

from core.analysis.compare import Comparison
from core.common import artifacts
from core.runs import overview as runs
from views.parts.url import presenting

COLOURS = {
    "other passage": "#c3c7cf",
    "judged passage": "#8fd19e",
    "query": "#3478f6",
    "correct": "#3478f6",
    "confused": "#e8590c",
    "passage": "#c3c7cf",
    "unknown": "#a9b4c2",
}
TYPE_COLOURS = ["#3478f6", "#e8590c", "#9c36b5", "#f59f00", "#1098ad", "#d6336c", "#5c940d", "#495057"]
COLOUR_BY = {"role": "role", "correct vs confused": "outcome", "query type": "query_type"}
SELECTED, NEIGHBOUR, JUDGED, TYPED = "#d6336c", "#212529", "#fab005", "#d6336c"
UP, DOWN, SAME = "#2e9e5b", "#d64541", "#adb5bd"
SLOPE_DEPTH = 20  # the slopegraph shows at most this many ranks per side
PLOT_PX = 240  # the height of a training chart's plot, its title and legend around it


def font_size() -> int:
    """The charts' text size in px: at least 14 (a projector's back row), larger in presentation mode."""
    return 20 if presenting() else 14


def _fonts(fig: go.Figure) -> go.Figure:
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


# --- the embeddings map ----------------------------------------------------------------------------


def _trace(points, name: str, colour: str, dims: int, size: float, opacity: float = 0.75):
    marker = dict(color=colour, size=size, opacity=opacity, line=dict(width=0))
    common = dict(
        name=f"{name} ({len(points):,})",
        mode="markers",
        marker=marker,
        customdata=points.id,
        text=[plain(t) for t in points.short],
        hovertemplate=f"<b>{plain(name)}</b><br>%{{text}}<extra></extra>",
    )
    if dims == 3:
        return go.Scatter3d(
            x=points.x, y=points.y, z=points.z, **{**common, "marker": {**marker, "size": size * 0.6}}
        )
    return go.Scattergl(x=points.x, y=points.y, **common)


def _scatter(dims: int):
    """The trace type of a map: WebGL in 2-D for every trace, so that each is drawn over the ones before
    (an SVG trace would lie under the WebGL points, whatever its order)."""
    return go.Scatter3d if dims == 3 else go.Scattergl


def _markers(dims: int, coords: list, name: str, marker: dict, hover: list[str] | None = None):
    return _scatter(dims)(
        **dict(zip("xyz", zip(*coords))),
        mode="markers",
        name=name,
        marker=marker,
        hovertext=hover,
        hoverinfo="text" if hover else "skip",
    )


def map_figure(
    points, colour_by: str, dims: int, typed=None, selected: list[str] = (), regions=(), width: int = 480
) -> go.Figure:
    """Passages and queries coloured by `colour_by` (a key of COLOUR_BY), on equal axes. With `typed`
    (a core.analysis.projection.Located), the query as a star with lines to its top k and to its judged
    passage (a marker of its own); `selected` (point ids: the point, then its neighbours) ringed;
    `regions` ((x, y, label) from core.analysis.regions.region_labels) written over the map. The height
    follows the map's aspect for a plot about `width` pixels wide, so no band of it is left empty."""
    column = COLOUR_BY[colour_by]
    groups = list(
        dict.fromkeys(["other passage", "passage", "judged passage", *sorted(points[column].unique())])
    )
    extra = iter(TYPE_COLOURS)
    fig = go.Figure(_validate=False)  # tens of thousands of points: checking each costs the page time
    for g in groups:
        part = points[points[column] == g]
        if len(part):
            typed_colour = column == "query_type" and g not in ("passage", "unknown")
            colour = next(extra, "#495057") if typed_colour else COLOURS.get(g)
            background = g in ("other passage", "passage", "judged passage")
            fig.add_trace(
                _trace(part, g, colour, dims, 4 if background else 6, opacity=0.45 if background else 0.85)
            )
    where = dict(zip(points.id, points[list("xyz"[:dims])].to_numpy().tolist()))
    text = dict(zip(points.id, points.short))
    if typed is not None:
        for label, rows, colour in (
            ("your query's top k", [r for r, _ in typed.neighbours], "#f59f00"),
            ("its judged passage", [r for r, _, _ in typed.judged], JUDGED),
        ):
            ends = [where[f"p{r}"] for r in rows if f"p{r}" in where]
            if not ends:
                continue
            line = [c for end in ends for c in (list(typed.xy), end, [None] * dims)]
            fig.add_trace(
                _scatter(dims)(
                    **dict(zip("xyz", zip(*line))),
                    mode="lines",
                    hoverinfo="skip",
                    showlegend=False,
                    line=dict(color=colour, width=1.5),
                )
            )
            judged = label == "its judged passage"
            fig.add_trace(
                _markers(
                    dims,
                    ends,
                    label,
                    dict(
                        color=colour,
                        size=16 if judged else 10,
                        symbol="diamond" if judged else "circle",
                        line=dict(width=2, color="#212529"),
                    ),
                )
            )
        fig.add_trace(
            _markers(
                dims,
                [list(typed.xy)],
                "your query",
                dict(
                    color=TYPED,
                    size=18 if dims == 2 else 12,
                    symbol="star" if dims == 2 else "diamond",
                    line=dict(width=1.5, color="white"),
                ),
                [plain(typed.query)],
            )
        )
        if dims == 3:  # named where it sits: among 3-D points a marker alone is easily lost
            fig.data[-1].update(
                mode="markers+text", text=["your query"], textposition="top center", textfont_color=TYPED
            )
    shown = [p for p in selected if p in where]
    if shown:
        fig.add_trace(
            _markers(
                dims,
                [where[shown[0]]],
                "selected point",
                dict(color="rgba(0,0,0,0)", size=24, symbol="circle", line=dict(width=4, color=SELECTED)),
                [plain(text[shown[0]])],
            )
        )
    if shown[1:]:
        fig.add_trace(
            _markers(
                dims,
                [where[p] for p in shown[1:]],
                "its nearest neighbours",
                dict(color="rgba(0,0,0,0)", size=13, symbol="circle", line=dict(width=2, color=NEIGHBOUR)),
                [plain(text[p]) for p in shown[1:]],
            )
        )
    axis = dict(showticklabels=False, title="", showgrid=False, zeroline=False)
    lows, highs = points[["x", "y"]].min().to_numpy(), points[["x", "y"]].max().to_numpy()
    spread = np.maximum(highs - lows, 1e-9)
    plot = int(min(max(width * spread[1] / spread[0], 0.6 * width), 1.2 * width))
    if dims == 3:  # a 3-D scene fills its box whatever the spread, turned by the mouse
        plot = min(int(0.75 * width), 560)
    if dims == 2:
        for x, y, label, anchor in spaced_labels(regions, lows, spread, (width, plot), font_size()):
            fig.add_annotation(
                x=x,
                y=y,
                text=plain(label),
                showarrow=False,
                xanchor=anchor,
                font=dict(color="#212529"),
                bgcolor="rgba(255,255,255,.85)",
            )
    elif regions:
        fig.add_trace(
            go.Scatter3d(
                **dict(zip("xyz", zip(*(xyz for xyz, _ in regions)))),
                mode="text",
                text=[plain(label) for _, label in regions],
                textfont=dict(color="#212529"),
                hoverinfo="skip",
                showlegend=False,
            )
        )
    names = [t.name for t in fig.data if t.showlegend is not False and t.name]
    fig.update_layout(
        height=plot + legend_height(names, width, font_size()) + 10,
        margin=dict(l=0, r=0, t=10, b=0),
        uirevision="map",
        legend=dict(orientation="h", y=-0.02, yanchor="top", x=0),
        dragmode="pan" if dims == 2 else "orbit",
        xaxis={**axis, "automargin": False},
        yaxis={**axis, "automargin": False, "scaleanchor": "x"},
        scene=dict(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube"),  # fills its box
    )
    return _fonts(fig)


def _text_px(text: str, size: int) -> float:
    """About how wide `text` is drawn at `size` px (a proportional font: 0.6 of the size a letter)."""
    return 0.6 * size * len(text)


def legend_height(names: list[str], width: int, size: int) -> int:
    """Pixels a horizontal legend of `names` takes below a plot `width` pixels wide: entries (a symbol
    and the name) packed into rows."""
    rows, used = 1, 0.0
    for name in names:
        entry = _text_px(name, size) + 45
        if used and used + entry > width:
            rows, used = rows + 1, 0.0
        used += entry
    return int(rows * (size * 1.3 + 6)) + 10


def spaced_labels(regions, lows, spread, plot: tuple[int, int], size: int) -> list:
    """(x, y, label, xanchor) of the region labels that fit on a `plot` (width, height) pixels showing
    `lows` to `lows + spread`, none overlapping another (kept in order, the later one dropped), each
    anchored so that it stays inside the plot."""
    scale = 0.95 * min(plot[0] / spread[0], plot[1] / spread[1])  # equal axes: the tighter one, padded
    kept, boxes = [], []
    for (x, y, *_), label in regions:
        px = (plot[0] - spread[0] * scale) / 2 + (x - lows[0]) * scale
        py = (plot[1] - spread[1] * scale) / 2 + (y - lows[1]) * scale
        w, h = _text_px(label, size) + 8, size * 1.4 + 6
        anchor, left = "center", px - w / 2
        if left < 0:
            anchor, left = "left", px
        elif left + w > plot[0]:
            anchor, left = "right", px - w
        box = (left - 4, py - h / 2 - 4, left + w + 4, py + h / 2 + 4)
        if w > plot[0] or any(
            box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in boxes
        ):
            continue
        boxes.append(box)
        kept.append((x, y, label, anchor))
    return kept


# --- rank movement between two models ------------------------------------------------------------


def rank_slopes(result: Comparison, k: int) -> go.Figure:
    """Each passage of either model's top k (at most SLOPE_DEPTH) as a line from its rank on the left
    to its rank on the right: green when the right model ranks it higher, red when lower. Passages
    beyond the shown ranks sit below them, one row each in rank order, labelled with their true rank;
    the judged passage's line is thick."""
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
        colour = UP if right < left else DOWN if right > left else SAME
        ys = [rows[side].get(r, r) for side, r in enumerate((left, right))]
        labels = [f"#{r:,}" if r > depth else "" for r in (left, right)]
        fig.add_trace(
            go.Scatter(
                x=[0, 1],
                y=ys,
                mode="lines+markers+text",
                text=labels,
                textposition=["middle left", "middle right"],
                showlegend=False,
                line=dict(color=colour, width=5 if hit.judged else 2),
                marker=dict(size=7),
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
            tickvals=[*range(1, depth + 1), depth + 1.5] if lowest > depth else list(range(1, depth + 1)),
            ticktext=[f"#{t}" for t in range(1, depth + 1)] + ["beyond"],
        ),
    )
    return _fonts(fig)


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
    return _fonts(fig)


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
