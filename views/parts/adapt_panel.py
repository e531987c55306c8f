"""The Training page's launcher of an adaptation to the picked corpus (`python -m core adapt` in the
background, `core.runs.launcher.launch_adapt`), and what each adapted checkpoint scored on the corpus's
judged queries after each epoch, with a link to Compare it beside the checkpoint it started from."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.common.artifacts import PREFERRED, CheckpointError, adapted_start, find_checkpoints
from core.common.settings import ADAPT_STEPS
from core.data.corpora import DEFAULT
from core.runs import launcher
from views.parts import url

COMPARE_PAGE = "views/pages/compare.py"


def show(corpus: str, logs: dict[str, dict], art: Path, active: bool) -> None:
    """The launcher (on an added corpus), then each adapted checkpoint's judged metrics by epoch."""
    if corpus == DEFAULT:
        return
    try:
        checkpoints = list(find_checkpoints(art))  # names only: none is opened here
    except CheckpointError:
        checkpoints = []  # the page above says how to train some
    st.subheader(f"Adapt a checkpoint to {url.literal(corpus)}")
    st.caption(
        f"Continues a checkpoint on the corpus's pseudo-queries (above: no labels), with negatives mined by "
        f"BM25 on the corpus, for about {ADAPT_STEPS} steps, the budget every corpus gets. Where the corpus "
        "has judged queries, the model is measured on them after each epoch: the epoch best on a third of "
        "them is kept (the start among them), and the other two thirds are what it is reported on. The "
        f"result, FROM@{corpus}, is in every picker. Cancelling leaves nothing behind."
    )
    starts = [
        n
        for n in (*reversed(PREFERRED), *checkpoints)
        if n in checkpoints and adapted_start(n, corpus) is None
    ]
    starts = list(dict.fromkeys(starts))  # hard first, then random, then the others
    with st.form("adapt"):
        start = st.selectbox("Checkpoint to adapt", starts, key="adapt_start")
        go = st.form_submit_button("Start adapting", type="primary", disabled=active or not starts)
    if go:
        try:
            launcher.launch_adapt(corpus, start, art)
        except launcher.RunError as e:
            st.error(str(e), icon="✋")
            return
        st.rerun()
    for name in (n for n in logs if adapted_start(n, corpus) is not None):
        start = adapted_start(name, corpus)
        judged(name, start, logs[name], corpus, start in checkpoints and name in checkpoints)


def judged(name: str, start: str, log: dict, corpus: str, linked: bool) -> None:
    """One adapted checkpoint's judged metrics by epoch (epoch 0: the start, grown by the corpus's
    words), and the link to Compare it beside its start."""
    rows = [
        {
            "epoch": e["epoch"],
            "kept": "✓" if e["epoch"] == log.get("kept_epoch") else "",
            **{
                f"{m} ({k})": e["judged"][k][m] for k in ("tuning", "reported") for m in ("ndcg@10", "mrr@10")
            },
        }
        for e in log.get("epochs", [])
        if "judged" in e
    ]
    if not rows:
        return
    st.markdown(
        f"**{url.literal(name)}** on the judged queries of {url.literal(corpus)} after each epoch: the "
        "epoch kept is the best on the tuning third; the other two thirds are what is reported"
    )
    st.dataframe(pd.DataFrame(rows), hide_index=True, placeholder="")
    if linked:  # both are checkpoints (not a run still training)
        params = {"a": start, "b": name, "corpus": corpus}
        label = f"Compare {url.literal(name)} beside {url.literal(start)}"
        st.page_link(COMPARE_PAGE, label=label, icon="⚖️", query_params=params)
