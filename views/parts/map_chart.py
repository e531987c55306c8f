"""The Embeddings page's map as a Plotly figure: passages and queries coloured by role, outcome or
query type, on equal axes, all WebGL so that highlights lie above the points (a typed query with
lines to its top k and its judged passage, a selected point and its neighbours), region labels spaced
apart so none overlaps another, the height following the map's aspect."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from views.parts.charts import font_size, fonts, plain

COLOURS = {
    "other passage": "#9aa3b0",
    "judged passage": "#2f9e44",
    "query": "#3478f6",
    "correct": "#3478f6",
    "confused": "#e8590c",
    "passage": "#9aa3b0",
    "unknown": "#a9b4c2",
}
TYPE_COLOURS = ["#3478f6", "#e8590c", "#9c36b5", "#f59f00", "#1098ad", "#d6336c", "#5c940d", "#495057"]
COLOUR_BY = {"role": "role", "correct vs confused": "outcome", "query type": "query_type"}
SELECTED, NEIGHBOUR, JUDGED, TYPED = "#d6336c", "#212529", "#fab005", "#d6336c"
# (size, opacity) of each layer, drawn in this order: the many other passages beneath, the queries
# small and see-through over them (2,504 queries must not hide 12,000 passages), then the judged ones
PASSAGES, QUERIES, JUDGED_PASSAGES = (5, 0.6), (4, 0.5), (5, 0.7)
BACKGROUND = ("other passage", "passage")
ON_TOP = ("judged passage",)
# the wheel scrolls the page (it never zooms a map it passes over); the map zooms by its buttons
CONFIG = {
    "scrollZoom": False,
    "displaylogo": False,
    "modeBarButtons": [["zoomIn2d", "zoomOut2d", "resetScale2d"]],
}


def _trace(points, name: str, colour: str, style: tuple[float, float]):
    size, opacity = style
    return go.Scattergl(
        x=points.x,
        y=points.y,
        name=f"{name} ({len(points):,})",
        mode="markers",
        marker=dict(color=colour, size=size, opacity=opacity, line=dict(width=0)),
        customdata=points.id,
        text=[plain(t) for t in points.short],
        hovertemplate=f"<b>{plain(name)}</b><br>%{{text}}<extra></extra>",
    )


def _markers(coords: list, name: str, marker: dict, hover: list[str] | None = None):
    return go.Scattergl(
        x=[c[0] for c in coords],
        y=[c[1] for c in coords],
        mode="markers",
        name=name,
        marker=marker,
        hovertext=hover,
        hoverinfo="text" if hover else "skip",
    )


def map_figure(
    points, colour_by: str, typed=None, selected: list[str] = (), regions=(), width: int = 480
) -> go.Figure:
    """Passages and queries coloured by `colour_by` (a key of COLOUR_BY), on equal axes, all WebGL so
    that each trace is drawn over those before it. With `typed` (a core.analysis.projection.Located),
    the query as a star with lines to its top k and to its judged passage (a marker of its own);
    `selected` (point ids: the point, then its neighbours) ringed; `regions` ((x, y), label) written
    over the map where no label covers another or the typed query. The height follows the map's aspect
    for a plot about `width` pixels wide, so no band of it is left empty."""
    fig = go.Figure(_validate=False)  # tens of thousands of points: checking each costs the page time
    fig.add_traces(_groups(points, COLOUR_BY[colour_by]))
    where = dict(zip(points.id, points[["x", "y"]].to_numpy().tolist()))
    if typed is not None:
        fig.add_traces(_typed(typed, where))
    text = dict(zip(points.id, points.short))
    fig.add_traces(_rings([p for p in selected if p in where], where, text))
    lows, highs = points[["x", "y"]].min().to_numpy(), points[["x", "y"]].max().to_numpy()
    spread = np.maximum(highs - lows, 1e-9)
    plot = _plot_height(spread, width)
    keep_clear = [tuple(typed.xy)] if typed is not None else []
    _label_regions(fig, regions, lows, spread, (width, plot), keep_clear)
    return _map_layout(fig, width, plot)


def _groups(points, column: str) -> list:
    """A trace per value of `column`: other passages first (beneath the rest), then the queries' values
    (query types coloured in turn from TYPE_COLOURS, the rest by COLOURS), judged passages last."""
    extra, traces = iter(TYPE_COLOURS), []
    values = [v for v in sorted(points[column].unique()) if v not in (*BACKGROUND, *ON_TOP)]
    for g in [*BACKGROUND, *values, *ON_TOP]:
        part = points[points[column] == g]
        if len(part):
            typed_colour = column == "query_type" and g not in ("passage", "unknown")
            colour = next(extra, "#495057") if typed_colour else COLOURS.get(g)
            style = PASSAGES if g in BACKGROUND else JUDGED_PASSAGES if g in ON_TOP else QUERIES
            traces.append(_trace(part, g, colour, style))
    return traces


def _typed(typed, where: dict) -> list:
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
        line = [c for end in ends for c in (list(typed.xy), end, [None, None])]
        judged = label == "its judged passage"
        tip = dict(color=colour, size=16 if judged else 10, symbol="diamond" if judged else "circle")
        traces += [
            go.Scattergl(
                x=[c[0] for c in line],
                y=[c[1] for c in line],
                mode="lines",
                hoverinfo="skip",
                showlegend=False,
                line=dict(color=colour, width=1.5),
            ),
            _markers(ends, label, {**tip, "line": dict(width=2, color="#212529")}),
        ]
    star = dict(color=TYPED, size=18, symbol="star", line=dict(width=1.5, color="white"))
    return [*traces, _markers([list(typed.xy)], "your query", star, [plain(typed.query)])]


def _rings(shown: list[str], where: dict, text: dict) -> list:
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
            rings.append(_markers([where[p] for p in ids], name, ring, [plain(text[p]) for p in ids]))
    return rings


def _plot_height(spread, width: int) -> int:
    """The plot's height for a plot `width` pixels wide: the map's aspect, kept between 0.6 and 1.2 of
    the width."""
    return int(min(max(width * spread[1] / spread[0], 0.6 * width), 1.2 * width))


def _label_regions(fig: go.Figure, regions, lows, spread, plot: tuple[int, int], keep_clear) -> None:
    """`regions` written over the map on a light box, those that fit (`spaced_labels`)."""
    for x, y, label, anchor in spaced_labels(regions, lows, spread, plot, font_size(), keep_clear):
        fig.add_annotation(
            x=x,
            y=y,
            text=plain(label),
            showarrow=False,
            xanchor=anchor,
            font=dict(color="#212529"),
            bgcolor="rgba(255,255,255,.85)",
        )


def _map_layout(fig: go.Figure, width: int, plot: int) -> go.Figure:
    """Axes without ticks or grid, equal, panned by dragging, the legend below the plot (its symbols
    full size, however small and faint the points), and the figure as tall as the plot and its legend."""
    axis = dict(showticklabels=False, title="", showgrid=False, zeroline=False, automargin=False)
    names = [t.name for t in fig.data if t.showlegend is not False and t.name]
    fig.update_layout(
        height=plot + legend_height(names, width, font_size()) + 10,
        margin=dict(l=0, r=0, t=10, b=0),
        uirevision="map",
        legend=dict(orientation="h", y=-0.02, yanchor="top", x=0, itemsizing="constant"),
        dragmode="pan",
        xaxis=axis,
        yaxis={**axis, "scaleanchor": "x"},
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


def spaced_labels(regions, lows, spread, plot: tuple[int, int], size: int, keep_clear=()) -> list:
    """(x, y, label, xanchor) of the region labels that fit on a `plot` (width, height) pixels showing
    `lows` to `lows + spread`, none overlapping another (kept in order, the later one dropped) or a
    point of `keep_clear` ((x, y): the typed query's star), each anchored so that it stays inside."""
    scale = 0.95 * min(plot[0] / spread[0], plot[1] / spread[1])  # equal axes: the tighter one, padded

    def pixels(x: float, y: float) -> tuple[float, float]:
        return (
            (plot[0] - spread[0] * scale) / 2 + (x - lows[0]) * scale,
            (plot[1] - spread[1] * scale) / 2 + (y - lows[1]) * scale,
        )

    star = 14  # half the star's box, px
    boxes = [(px - star, py - star, px + star, py + star) for px, py in (pixels(*p) for p in keep_clear)]
    kept = []
    for (x, y, *_), label in regions:
        px, py = pixels(x, y)
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
