"""The Embeddings page's map as a Plotly figure: passages and queries coloured by role, outcome or
query type, on equal axes, all WebGL so that highlights lie above the points (a typed query with
lines to its top k and its judged passage, a selected point and its neighbours), region labels spaced
apart so none overlaps another, the height following the map's aspect."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from views.parts.charts import font_size, fonts, plain

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
BACKGROUND = ("other passage", "passage", "judged passage")  # drawn first, small and faint


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
    fig = go.Figure(_validate=False)  # tens of thousands of points: checking each costs the page time
    fig.add_traces(_groups(points, COLOUR_BY[colour_by], dims))
    where = dict(zip(points.id, points[list("xyz"[:dims])].to_numpy().tolist()))
    if typed is not None:
        fig.add_traces(_typed(typed, where, dims))
    text = dict(zip(points.id, points.short))
    fig.add_traces(_rings([p for p in selected if p in where], where, text, dims))
    lows, highs = points[["x", "y"]].min().to_numpy(), points[["x", "y"]].max().to_numpy()
    spread = np.maximum(highs - lows, 1e-9)
    plot = _plot_height(spread, dims, width)
    _label_regions(fig, regions, dims, lows, spread, (width, plot))
    return _map_layout(fig, dims, width, plot)


def _groups(points, column: str, dims: int) -> list:
    """A trace per value of `column`, passages first (small and faint, beneath the rest); query types
    coloured in turn from TYPE_COLOURS, the other values by COLOURS."""
    extra, traces = iter(TYPE_COLOURS), []
    for g in dict.fromkeys([*BACKGROUND, *sorted(points[column].unique())]):
        part = points[points[column] == g]
        if len(part):
            typed_colour = column == "query_type" and g not in ("passage", "unknown")
            colour = next(extra, "#495057") if typed_colour else COLOURS.get(g)
            background = g in BACKGROUND
            traces.append(
                _trace(part, g, colour, dims, 4 if background else 6, opacity=0.45 if background else 0.85)
            )
    return traces


def _typed(typed, where: dict, dims: int) -> list:
    """The typed query as a star, with lines to its top k and to its judged passage (those on the map),
    each end a marker: the judged passage's a larger diamond."""
    traces = []
    for label, rows, colour in (
        ("your query's top k", [r for r, _ in typed.neighbours], "#f59f00"),
        ("its judged passage", [r for r, _, _ in typed.judged], JUDGED),
    ):
        ends = [where[f"p{r}"] for r in rows if f"p{r}" in where]
        if not ends:
            continue
        line = [c for end in ends for c in (list(typed.xy), end, [None] * dims)]
        judged = label == "its judged passage"
        tip = dict(color=colour, size=16 if judged else 10, symbol="diamond" if judged else "circle")
        traces += [
            _scatter(dims)(
                **dict(zip("xyz", zip(*line))),
                mode="lines",
                hoverinfo="skip",
                showlegend=False,
                line=dict(color=colour, width=1.5),
            ),
            _markers(dims, ends, label, {**tip, "line": dict(width=2, color="#212529")}),
        ]
    star = dict(color=TYPED, size=18 if dims == 2 else 12, symbol="star" if dims == 2 else "diamond")
    query = _markers(
        dims,
        [list(typed.xy)],
        "your query",
        {**star, "line": dict(width=1.5, color="white")},
        [plain(typed.query)],
    )
    if dims == 3:  # named where it sits: among 3-D points a marker alone is easily lost
        query.update(
            mode="markers+text", text=["your query"], textposition="top center", textfont_color=TYPED
        )
    return [*traces, query]


def _rings(shown: list[str], where: dict, text: dict, dims: int) -> list:
    """A ring around the selected point (`shown[0]`), smaller ones around its neighbours (the rest)."""
    rings = []
    for name, ids, size, width, colour in (
        ("selected point", shown[:1], 24, 4, SELECTED),
        ("its nearest neighbours", shown[1:], 13, 2, NEIGHBOUR),
    ):
        if ids:
            ring = dict(
                color="rgba(0,0,0,0)", size=size, symbol="circle", line=dict(width=width, color=colour)
            )
            rings.append(_markers(dims, [where[p] for p in ids], name, ring, [plain(text[p]) for p in ids]))
    return rings


def _plot_height(spread, dims: int, width: int) -> int:
    """The plot's height for a plot `width` pixels wide: in 2-D the map's aspect, kept between 0.6 and
    1.2 of the width; in 3-D a box, since a scene fills it whatever the spread (turned by the mouse)."""
    if dims == 3:
        return min(int(0.75 * width), 560)
    return int(min(max(width * spread[1] / spread[0], 0.6 * width), 1.2 * width))


def _label_regions(fig: go.Figure, regions, dims: int, lows, spread, plot: tuple[int, int]) -> None:
    """`regions` written over the map: in 2-D those that fit without overlapping (`spaced_labels`),
    on a light box; in 3-D as a text trace."""
    if dims == 2:
        for x, y, label, anchor in spaced_labels(regions, lows, spread, plot, font_size()):
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


def _map_layout(fig: go.Figure, dims: int, width: int, plot: int) -> go.Figure:
    """Axes without ticks or grid (equal in 2-D, a cube in 3-D), panned or turned by dragging, the
    legend below the plot, and the figure as tall as the plot and its legend."""
    axis = dict(showticklabels=False, title="", showgrid=False, zeroline=False)
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
    return fonts(fig)


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
