"""The pages' building blocks: result cards, rank badges, token chips, example-query buttons and the
notices (no answer in the corpus, same checkpoint twice, a link's unknown values)."""

from __future__ import annotations

import html

import streamlit as st

from core.analysis.compare import Example, Moved
from core.analysis.results import ResultHit, SearchResult
from core.retrieval.catalog import NoAnswer
from core.retrieval.explain import Explanation, Part
from core.retrieval.queries import QueryToken, highlight
from core.retrieval.ranker import Ranker
from views.parts.url import literal, presenting, set_query, shown

CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.5rem; }
.card { border: 1px solid rgba(128,128,128,.28); border-radius: .6rem; padding: .7rem .9rem;
  margin-bottom: .6rem; }
.card.judged { border: 2px solid #2e9e5b; background: rgba(46,158,91,.07); }
.card-head { display: flex; gap: .5rem; align-items: baseline; flex-wrap: wrap; margin-bottom: .3rem;
  font-size: .9rem; }
.rank { font-weight: 700; font-size: 1.05rem; }
.score { color: rgba(128,128,128,1); font-variant-numeric: tabular-nums; }
.why { font-size: .875rem; color: rgba(128,128,128,1); margin-bottom: .3rem; overflow-wrap: anywhere; }
.badge { border-radius: 1rem; padding: 0 .55rem; font-size: .875rem; font-weight: 600; }
.badge.judged { background: #2e9e5b; color: white; }
.badge.up { background: rgba(46,158,91,.16); color: #1f7a45; }
.badge.down { background: rgba(214,69,65,.14); color: #b3332f; }
.badge.same { background: rgba(128,128,128,.16); }
.badge.new { background: rgba(52,120,246,.15); color: #2356c4; }
.badge.missed { background: rgba(230,140,20,.18); color: #9a5a00; }
.card-text { line-height: 1.5; font-size: .95rem; overflow-wrap: anywhere; }
.card-text.clamp { display: -webkit-box; -webkit-line-clamp: 6; -webkit-box-orient: vertical;
  overflow: hidden; }
.card:hover .card-text.clamp { -webkit-line-clamp: unset; }
.card-text mark { background: rgba(255,204,0,.45); color: inherit; padding: 0 .1rem; border-radius: .2rem; }
.tokens { display: flex; flex-wrap: wrap; gap: .3rem; }
.tok { border: 1px solid rgba(128,128,128,.35); border-radius: .35rem; padding: .1rem .4rem;
  font-family: monospace; font-size: .875rem; }
.near { padding-left: 1.2rem; margin: 0 0 .6rem; font-size: .88rem; line-height: 1.4; }
.near li { margin-bottom: .3rem; overflow-wrap: anywhere; }
.tok.oov { border-color: #d64541; background: rgba(214,69,65,.12); text-decoration: line-through; }
</style>"""

CARD_CHARS = 4000  # characters of a passage one card shows at most (MS MARCO's are under 1,200)
VERDICTS = {"fixes": "✅ {second} fixes it", "breaks": "⚠️ {second} breaks it", "same": "🤝 both find it"}


def style() -> None:
    st.html(CSS)


def marked(text: str, query: str) -> str:
    """`text` as HTML with the query's words in <mark>; everything escaped; a text longer than
    CARD_CHARS is cut there, with a note, so no passage makes a page of megabytes."""
    more = len(text) - CARD_CHARS
    body = "".join(
        f"<mark>{html.escape(p)}</mark>" if hit else html.escape(p)
        for p, hit in highlight(text[:CARD_CHARS], query)
    )
    return body + (f" … <small>({more:,} more characters not shown)</small>" if more > 0 else "")


def movement(move: Moved, other: str, k: int) -> str:
    """A badge saying where `other` ranks this passage, and how many places higher (▲) or lower (▼)
    this model puts it."""
    other, there = html.escape(other), f"#{move.other_rank:,}"
    if move.new:
        return f'<span class="badge new">not in {other}\'s top {k} ({other}: {there})</span>'
    if move.change:
        kind, arrow, way = ("up", "▲", "higher") if move.change > 0 else ("down", "▼", "lower")
        places = f"{abs(move.change)} place{'s' if abs(move.change) != 1 else ''}"
        return f'<span class="badge {kind}">{arrow} {places} {way} than {other} ({there})</span>'
    return f'<span class="badge same">= same rank in {other}</span>'


def verdict(ex: Example) -> str:
    """'✅ hard fixes it' and the like: what the second model does to the example."""
    return VERDICTS[ex.verdict].format(second=list(ex.ranks)[1])


def example_buttons(items: list[Example]) -> None:
    """Example queries to click, each labelled with what the second model does to it and where the two
    models rank its judged passage."""
    for col, ex in zip(st.columns(3) * 2, items):
        col.button(
            literal(ex.query),
            on_click=set_query,
            args=(ex.query,),
            width="stretch",
            wrap=True,
            help=" · ".join(f"{m} ranks the judged passage #{r:,}" for m, r in ex.ranks.items()),
        )
        col.caption(literal(f"{verdict(ex)}: " + " → ".join(f"{m} #{r:,}" for m, r in ex.ranks.items())))


def card(
    hit: ResultHit,
    query: str,
    unit: str = "cos",
    extra: str = "",
    clamp: bool = False,
    why: Explanation | None = None,
) -> None:
    """A result: rank, score in the ranker's `unit`, badges, what the score adds up from (`why`), the
    passage with the query's words marked (with `clamp`, cut to six lines until the pointer rests on it).
    In presentation mode neither the score nor its parts are shown."""
    judged = '<span class="badge judged">✓ judged relevant</span>' if hit.judged else ""
    if hit.missed:
        extra = (
            '<span class="badge missed" title="Exact search over every passage ranks it here; the '
            'approximate (HNSW) index did not return it.">missed by the index</span>'
        ) + extra
    parts = (
        f'<div class="why" title="What the score adds up from, and the words each part owes to">'
        f"{html.escape(explanation(why))}</div>"
        if why and not presenting()
        else ""
    )
    score = "" if presenting() else f'<span class="score">{html.escape(unit)} {hit.score:.3f}</span>'
    st.html(
        f'<div class="card{" judged" if hit.judged else ""}"><div class="card-head">'
        f'<span class="rank">#{hit.rank}</span>{score}'
        f'{judged}{extra}</div>{parts}<div class="card-text{" clamp" if clamp else ""}">'
        f"{marked(hit.text, query)}</div></div>"
    )


def explanation(why: Explanation, words: int = 3) -> str:
    """'meaning 0.412 + shared words 0.213 (canberra 0.121, capital 0.052, …)': a score's parts, each
    with its largest words; a fused score's parts grouped by the weighted ranker each comes from, each
    group with what it gives, already weighted ('hard × 0.8 gives 0.331 = meaning 0.262 + shared words
    0.069; bm25 × 0.2 ÷ 14.20 (its best) gives 0.140 = shared words 0.140 (…)'). Shown figures add up
    to the score shown, and a part's words to the part, as printed (`adding_up`)."""
    groups: dict[str, list[Part]] = {}
    for part in why.parts:
        groups.setdefault(part.source, []).append(part)
    totals = adding_up([sum(p.value for p in parts) for parts in groups.values()], why.score)
    shown = []
    for (source, parts), total in zip(groups.items(), totals):
        values = adding_up([p.value for p in parts], float(total))
        sums = " + ".join(_part(p, v, words) for p, v in zip(parts, values))
        shown.append(f"{source} gives {total} = {sums}" if source else sums)
    return "; ".join(shown)


def adding_up(values: list[float], total: float, digits: int = 3) -> list[str]:
    """`values` printed to `digits` places so that the printed figures add up to `total` printed so
    (the largest rounding error takes the difference)."""
    unit = 10**-digits
    cents = [round(v / unit) for v in values]
    errors = [c - v / unit for c, v in zip(cents, values)]
    gap = round(float(f"{total:.{digits}f}") / unit) - sum(cents)  # the total as printed
    for i in sorted(range(len(values)), key=lambda i: errors[i] if gap > 0 else -errors[i])[: abs(gap)]:
        cents[i] += 1 if gap > 0 else -1
    return [f"{c * unit:.{digits}f}" for c in cents]


def _part(part: Part, value: str, words: int) -> str:
    """'shared words 0.213 (canberra 0.121, capital 0.052, …)': the words that print as something."""
    items = list(part.words)
    whole = abs(sum(v for _, v in items) - part.value) < 1e-6  # the words own all of the part
    printed = adding_up([v for _, v in items], float(value)) if whole else [f"{v:.3f}" for _, v in items]
    shown = [f"{w} {v}" for (w, _), v in zip(items, printed) if float(v)]
    if len(shown) > words:
        shown = shown[:words] + ["…"]
    return f"{part.label} {value}" + (f" ({', '.join(shown)})" if shown else "")


def other_view(name: str, why: Explanation) -> None:
    """How another ranker scores the same query and passage, and what that adds up from (left out in
    presentation mode, with every score)."""
    if not presenting():
        st.html(
            f'<div class="why">In {html.escape(name)}: {html.escape(why.unit)} {why.score:.3f} = '
            f"{html.escape(explanation(why))}</div>"
        )


def text_card(text: str) -> None:
    """A passage or query as plain text in a card, cut to six lines until the pointer rests on it."""
    st.html(f'<div class="card"><div class="card-text clamp">{marked(text, "")}</div></div>')


def text_list(texts: list[str], limit: int = 140) -> None:
    """Texts as a numbered list, each cut to `limit` characters, as plain text."""
    items = "".join(f"<li>{html.escape(t if len(t) <= limit else t[: limit - 1] + '…')}</li>" for t in texts)
    st.html(f'<ol class="near">{items}</ol>')


def tokens(items: list[QueryToken], dropped: int = 0) -> None:
    """The query's tokens as chips; unknown ones (the model saw <unk>) struck out."""
    chips = "".join(
        f'<span class="tok" title="in the vocabulary">{html.escape(t.text)}</span>'
        if t.known
        else f'<span class="tok oov" title="unknown: the model saw &lt;unk&gt;">{html.escape(t.text)}</span>'
        for t in items
    )
    cut = (
        (
            f"<small>{dropped} more token{'s' if dropped != 1 else ''} past the model's query length "
            "went unseen.</small>"
        )
        if dropped
        else ""
    )
    st.html(f'<div class="tokens">{chips}</div>{cut}')


def seen(tokens: list[QueryToken]) -> str:
    """The words a model saw of a query (known, within its query length): the ones cards highlight."""
    return " ".join(t.text for t in tokens if t.known)


def suggestion(mended: str | None) -> None:
    """'Did you mean …?': the query with its misspelt words mended from the corpus's own words
    (core.retrieval.spelling), as a button that searches it."""
    if mended:
        st.button(
            f"Did you mean: {literal(mended)}?",
            on_click=set_query,
            args=(mended,),
            icon="🔤",
            help="Words the corpus holds, one or two letters away from what was typed",
        )


def judged_summary(hit: ResultHit | None, total: int, k: int, name: str) -> str:
    """One line: where the judged passage sits for model `name`."""
    name = literal(name)
    if hit is None:
        return f"**{name}**: the judged passage shares no word with the query, so BM25 does not rank it"
    where = f"in the top {k}" if hit.rank <= k else f"outside the top {k}"
    return f"**{name}** ranks the judged passage **#{hit.rank:,}** of {total:,} ({where})"


def judged_rank(hit: ResultHit | None) -> str:
    return f"#{hit.rank:,}" if hit else "—"


def answered_by(result: SearchResult, ranker: Ranker) -> str:
    """'Top 10 from the index 2.1 ms · every passage ranked 1.3 ms', or, instead of the index, exact
    search over every passage (BM25 and hybrids always; a checkpoint while its index is built)."""
    if result.path == "chroma":
        searched = "from the index"
    else:
        state = getattr(ranker, "index_state", "ready")
        building = f" (its Chroma index {state})" if state not in ("ready", "exact only") else ""
        searched = f"by exact search over every passage{building}"
    top = f"Top {len(result.hits)} {searched} {result.search_ms:.1f} ms"
    return f"{top} · every passage ranked {result.rank_ms:.1f} ms"


def secondary(text: str) -> None:
    """A caption of secondary numbers (latency, scores), left out in presentation mode."""
    if not presenting():
        st.caption(text)


# --- notices -------------------------------------------------------------------------------------


def link_notices(notices: list[str]) -> None:
    """What a shared link asked for that this machine cannot show (core: `state.url_state`)."""
    for text in notices:
        st.warning(text, icon="🔗")


def same_checkpoint(left: str, right: str) -> None:
    if left == right:
        st.info(
            f"Both sides use the same checkpoint, **{literal(left)}**, so they agree on everything. "
            "Pick another checkpoint on one side to see what changes.",
            icon="🪞",
        )


def no_answer(found: NoAnswer | None, dataset_query: bool) -> None:
    """Say so when the passages a model found never mention what was asked (core.retrieval.catalog.no_answer):
    a word no passage holds is likely misspelled, else the corpus likely holds no answer and the model
    is not to blame. A dataset query always has its judged passage in the corpus: no notice for it."""
    if dataset_query or found is None:
        return
    quoted = ", ".join(shown(w) for w in found.unknown or found.words)
    if found.unknown:
        st.info(
            f"**No passage contains {quoted}**, in any form. Check the spelling; if it is right, this "
            "corpus (a sample, not the web) says nothing about it.",
            icon="🔤",
        )
    else:
        st.info(
            f"**This corpus probably holds no answer.** None of the passages found mentions {quoted} in "
            "any form: the corpus is a sample, not the web. Whatever the models rank first, "
            "they are not to blame.",
            icon="📭",
        )
