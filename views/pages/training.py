"""Training lab: the curves of every checkpoint and run overlaid (hard continuing from random), a
launcher that trains in the background (`python -m core train`) with progress through every phase,
and the runs table, metrics first."""

import json
import time

import pandas as pd
import streamlit as st

from core.common import artifacts
from core.common.artifacts import PREFERRED, artifacts_dir
from core.common.settings import CHOICES
from core.runs import jobs, launcher
from core.runs import overview as runs
from views.parts import adapt_panel, charts, components, pseudo_sample, state

POLL_S = 1.0
LOSSES, NEGATIVES, TOWERS = CHOICES["loss"], CHOICES["negatives"], CHOICES["tower"]
HELP = {
    "warmup": "The learning rate rises linearly over these first steps, then follows a cosine down to 0. "
    "A short run has few steps (300 queries at batch 64: 5 per epoch).",
    "loss": "In-batch softmax: every other passage in the batch (the other queries' positives and all "
    "explicit negatives) is a negative too. Triplet: max(0, d(q,p) − d(q,n) + margin) against "
    "the one explicit negative.",
    "negatives": "Random: a passage drawn at random. Hard: one mined with the warm-up checkpoint "
    "(artifacts/mined/negatives.json).",
}


FINAL = ["final_loss", "final_active", *(f"val_{m}" for m in runs.VAL_METRICS)]
FIRST = ["label", "status", *(f"val_{m}" for m in runs.VAL_METRICS), "final_loss", "duration_s"]
HEADINGS = {
    "run": "id",
    "label": "run",
    **{
        f"val_{m}": f"{m.replace('mrr', 'MRR').replace('recall', 'Recall').replace('ndcg', 'nDCG')} (val)"
        for m in runs.VAL_METRICS
    },
    "final_loss": "final loss",
    "final_active": "final active triplets",
    "duration_s": "duration (s)",
    "lr": "learning rate",
    "data_fingerprint": "data fingerprint",
}


def shown_table(rows: list[dict]) -> pd.DataFrame:
    """The runs table as the page shows it: readable column names, metrics first, blanks for what a
    run does not have (never "None")."""
    table = pd.DataFrame(rows)
    table = table.reindex(columns=[*FIRST, *(c for c in table.columns if c not in FIRST)])
    text = [c for c in table.columns if table[c].map(lambda v: isinstance(v, str)).any()]
    table[text] = table[text].astype(object).where(table[text].notna(), "").astype(str)
    return table.rename(columns=lambda c: HEADINGS.get(c, c.replace("_", " ")))


def label(row: dict) -> str:
    """A run's readable name: when it started (to the second: two runs in a minute differ) and what it
    trains, e.g. 'run 14:02:07 · GRU 32 · in-batch ·
    random negatives · 300 queries × 1 epoch' (a recurrent tower with its hidden size); a checkpoint
    outside runs/ keeps its name."""
    if not row["run"].startswith(artifacts.RUN_PREFIX):
        return row["run"]
    when = (
        time.strftime("%H:%M:%S", time.strptime(row["started"], "%Y-%m-%d %H:%M:%S"))
        if row["started"]
        else row["run"][len(artifacts.RUN_PREFIX) :]
    )
    recurrent = row["tower"] in TOWERS and row["tower"] != "avg"
    tower = (
        f"{TOWERS[row['tower']]} {row['hidden']}"
        if recurrent
        else TOWERS.get(row["tower"], row["tower"] or "?")
    )
    queries = f"{row['max_queries']:,} queries" if row["max_queries"] else "all queries"
    epochs = f"{row['epochs']} epoch{'s' if row['epochs'] != 1 else ''}"
    return (
        f"run {when} · {tower} · {LOSSES.get(row['loss'], row['loss'])} · "
        f"{NEGATIVES.get(row['negatives'], row['negatives'])} negatives · {queries} × {epochs}"
    )


def curves(logs: dict[str, dict], labels: dict[str, str], k: int) -> None:
    """The four training charts (views.parts.charts.training_figures), two by two."""
    figures = charts.training_figures(logs, labels, k)
    for pair in (figures[:2], figures[2:]):
        for col, fig in zip(st.columns(2), pair):
            col.plotly_chart(fig, width="stretch")


def launch_form(art) -> None:
    with st.form("launch"):
        st.markdown("**Start a training run** (in the background: keep using the app meanwhile)")
        a, b, c = st.columns(3)
        tower = a.selectbox("Tower", list(TOWERS), format_func=TOWERS.get, key="train_tower")
        hidden = a.number_input("RNN, LSTM or GRU hidden size", 8, 512, 64, step=8, key="train_hidden")
        bidirectional = a.checkbox("Bidirectional (RNN, LSTM, GRU)", True, key="train_bidirectional")
        frozen = a.checkbox("Frozen word vectors", True, key="train_frozen")
        warmup = a.number_input(
            "Warm-up steps", 0, 1000, 10, step=10, key="train_warmup", help=HELP["warmup"]
        )
        loss = b.selectbox("Loss", list(LOSSES), format_func=LOSSES.get, key="train_loss", help=HELP["loss"])
        margin = b.number_input(
            "Margin (triplet; also the active-triplet line)", 0.0, 1.0, 0.2, 0.05, key="train_margin"
        )
        temperature = b.number_input("Temperature (in-batch)", 0.01, 1.0, 0.05, 0.01, key="train_temperature")
        negatives = b.selectbox(
            "Explicit negative",
            list(NEGATIVES),
            format_func=NEGATIVES.get,
            key="train_negatives",
            help=HELP["negatives"],
        )
        lr = c.number_input("Learning rate", 1e-5, 0.1, 2e-3, 5e-4, format="%.4f", key="train_lr")
        epochs = c.number_input("Epochs", 1, 20, 1, key="train_epochs")
        batch_size = c.number_input("Batch size", 4, 512, 64, step=16, key="train_batch_size")
        max_queries = c.number_input(
            "Max training queries (0: all)", 0, 100_000, 300, step=100, key="train_max_queries"
        )
        if not st.form_submit_button("Start training", type="primary"):
            return
    st.session_state.pop("refused", None)
    try:
        cfg = launcher.run_config(
            art,
            tower=tower,
            hidden=int(hidden),
            bidirectional=bidirectional,
            freeze_embeddings=frozen,
            loss=loss,
            margin=float(margin),
            temperature=float(temperature),
            negatives=negatives,
            lr=float(lr),
            epochs=int(epochs),
            batch_size=int(batch_size),
            max_queries=int(max_queries),
            warmup_steps=int(warmup),
        )
        launcher.launch(cfg, art)
    except launcher.RunError as e:
        active = launcher.refresh(art)
        if active is None:
            st.error(str(e), icon="✋")
            return
        st.session_state.refused = (str(e), active.run)  # shown beside that run's bar while it trains
    st.rerun()


def outcome(job: jobs.Job, name: str) -> None:
    """How the latest run ended."""
    if job.status == "done":
        st.success(
            f"**{name}** finished in {job.seconds:.0f} s: pick it on the Search and Compare pages.", icon="✅"
        )
    elif job.status == "cancelled":
        st.warning(
            f"**{name}** was cancelled after {job.seconds:.0f} s; no checkpoint was kept and no final "
            "metrics are shown for it.",
            icon="⏹️",
        )
    elif job.status == "failed":
        st.error(
            f"**{name}** failed after {job.seconds:.0f} s; no checkpoint was kept. "
            f"How it ended, and the end of its output:\n```\n{job.error}\n```",
            icon="💥",
        )
    elif job.status == jobs.UNREADABLE:
        st.warning(f"**{name}** is unreadable: {job.error}", icon="🧩")


components.style()
st.title("🏋️ Training lab")
st.caption(
    "Every checkpoint's training overlaid: the random-negative loss collapsing as its triplets go "
    "inactive, the hard-negative run still learning (a run continued from another checkpoint starts at "
    "the epoch where that one ended). Start a run of your own below."
)
art = artifacts_dir()
active = launcher.refresh(art)
history = jobs.jobs(art)
rows = [
    {**r, "label": label(r), **(dict.fromkeys(FINAL) if r["status"] != "done" else {})}
    for r in runs.table(art)
]  # a run that did not finish has no final metrics
labels = {r["run"]: r["label"] for r in rows}


# The charts and the run's bar are redrawn in place every POLL_S while a run trains: not faded
# meanwhile, as Streamlit fades what a rerun has not yet sent again
st.html(
    "<style>.st-key-training_curves [data-stale='true'], .st-key-training_run [data-stale='true'] "
    "{ opacity: 1 !important; transition: none; }</style>"
)


@st.fragment(run_every=POLL_S if active else None)
def lab() -> None:
    """The curves of the checkpoints and runs picked, redrawn as the running one logs."""
    if active and launcher.refresh(art) is None:
        st.rerun()  # the run ended: redraw the whole page (table, selectors, how it ended)
    logs = runs.logs(art)
    names = list(logs)
    latest = sorted(n for n in names if n.startswith(artifacts.RUN_PREFIX))[-1:]  # run IDs are start times
    default = [n for n in PREFERRED if n in names] + latest
    pick, recall = st.columns([5, 1], vertical_alignment="bottom")
    shown = pick.multiselect(
        "Checkpoints and runs to overlay",
        names,
        default=default,  # reset by a new run
        format_func=lambda n: labels.get(n, n),
    )
    k = recall.selectbox("Recall@k", [1, 10, 100], index=1, key="train_recall_k")
    if shown:
        curves({n: logs[n] for n in shown}, {n: labels.get(n, n) for n in shown}, k)
    else:
        st.info("No training logs yet: run `python -m core build`, or start a run below.", icon="📈")


@st.fragment(run_every=POLL_S if active else None)
def running() -> None:
    """The running job's progress and its Cancel button, under the Start button that launched it (in
    view where the click was, on a laptop too)."""
    job = launcher.refresh(art)
    if job is None:
        if active:
            st.rerun()
        return
    state = runs.progress(job, art)
    refused, busy = st.session_state.get("refused", (None, None))
    if refused and busy == job.run:
        st.error(refused, icon="✋")
    bar, stop = st.columns([5, 1], vertical_alignment="bottom")
    bar.progress(
        state.fraction, text=f"**{labels.get(job.name, job.name)}** · {state.text} · {job.seconds:.0f} s"
    )
    if stop.button("Cancel run", key="train_cancel", width="stretch"):
        try:
            launcher.cancel(art)
        except launcher.RunError as e:
            st.error(str(e), icon="✋")
            return
        st.rerun()


def progress_here(adaptation: bool) -> None:
    """The latest run's progress (or how it ended) under the Start button that launched it, in view
    where the click was: a training run's under the form, an adaptation's under its panel."""
    latest = active or (history[-1] if history else None)
    if latest is None or (latest.out is not None) != adaptation:
        return
    if active is None:
        outcome(latest, labels.get(latest.name, latest.name))
    with st.container(key="training_run"):
        running()


with st.container(key="training_curves"):
    lab()
launch_form(art)
progress_here(adaptation=False)

st.subheader("Runs")
st.caption(
    f"Every checkpoint and launched run, validation metrics first; also in "
    f"`{artifacts.runs_dir(art)}/runs.csv` and `runs.json`. Click a column to sort."
)
st.dataframe(
    shown_table(rows).style.format(na_rep="", precision=3),
    hide_index=True,
    placeholder="",  # a missing value is a blank cell, not "None"
    column_config={"run": st.column_config.TextColumn(width="medium", help="Hover a cell for all of it")},
)  # the label no wider than the metrics after it, which stay in view at 1024 px
down_csv, down_json, _ = st.columns([1, 1, 2])
down_csv.download_button("Download CSV", runs.table_csv(rows), "runs.csv", "text/csv", key="train_csv")
down_json.download_button(
    "Download JSON", json.dumps(rows, indent=2), "runs.json", "application/json", key="train_json"
)
pseudo_sample.show(state.catalog(), art)
adapt_panel.show(state.catalog().name, runs.logs(art), art, active is not None)
progress_here(adaptation=True)
