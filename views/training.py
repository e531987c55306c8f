"""Training lab: the curves of every checkpoint and run overlaid, a launcher that trains in the
background (`python -m core train`) with live progress, and the runs table."""
import itertools
import json

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core import runs
from core.artifacts import artifacts_dir
from core.engine import PREFERRED

POLL_S = 1.0
LOSSES = {"inbatch": "in-batch softmax", "triplet": "triplet margin"}
NEGATIVES = {"random": "random", "hard": "hard (mined)"}
TOWERS = {"gru": "GRU", "avg": "average of word vectors"}


def chart(fig: go.Figure, title: str, y: str) -> None:
    fig.update_layout(title=title, height=340, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="epoch", yaxis_title=y,
                      legend=dict(title_text="", orientation="h", yanchor="top", y=-0.3, x=0))
    st.plotly_chart(fig, width="stretch")


def curves(logs: dict[str, dict], k: int) -> None:
    """Batch loss and active share (smoothed), epoch loss with the margin, validation per epoch."""
    batches, epochs = runs.curves(logs)
    colors = dict(zip(logs, itertools.cycle(px.colors.qualitative.Plotly)))    # one colour per run on every chart
    style = dict(color="run", color_discrete_map=colors, category_orders={"run": list(logs)})
    left, right = st.columns(2)
    with left:
        chart(px.line(batches, x="x", y="loss_smooth", **style), "Batch loss (smoothed over 20 batches)", "loss")
        fig = px.line(epochs.dropna(subset=["loss"]), x="epoch", y="loss", markers=True, **style)
        for margin in sorted(epochs.margin.unique()):
            fig.add_hline(y=margin, line_dash="dot", line_color="gray", annotation_text=f"margin {margin:g}")
        chart(fig, "Epoch loss", "loss")
    with right:
        chart(px.line(batches, x="x", y="active_smooth", range_y=[0, 1], **style),
              "Active triplets: share still inside the margin (smoothed)", "share")
        long = epochs.melt(id_vars=["run", "epoch"], value_vars=["mrr@10", f"recall@{k}"], var_name="metric")
        chart(px.line(long, x="epoch", y="value", line_dash="metric", markers=True, range_y=[0, 1], **style),
              f"Validation MRR@10 and Recall@{k} (epoch 0: untrained)", "score")


def launcher(art) -> None:
    with st.form("launch"):
        st.markdown("**Start a training run** (in the background: keep using the app meanwhile)")
        a, b, c = st.columns(3)
        tower = a.selectbox("Tower", list(TOWERS), format_func=TOWERS.get, key="train_tower")
        hidden = a.number_input("GRU hidden size", 8, 512, 64, step=8, key="train_hidden")
        bidirectional = a.checkbox("Bidirectional GRU", True, key="train_bidirectional")
        frozen = a.checkbox("Frozen word vectors", True, key="train_frozen")
        warmup = a.number_input("Warm-up steps", 0, 1000, 10, step=10, key="train_warmup",
                                help="The learning rate rises linearly over these first steps, then follows a cosine "
                                     "down to 0. A short run has few steps (300 queries at batch 64: 5 per epoch).")
        loss = b.selectbox("Loss", list(LOSSES), format_func=LOSSES.get, key="train_loss",
                           help="In-batch softmax: every other passage in the batch (the other queries' positives "
                                "and all explicit negatives) is a negative too. Triplet: max(0, d(q,p) − d(q,n) + margin) "
                                "against the one explicit negative.")
        margin = b.number_input("Margin (triplet; also the active-triplet line)", 0.0, 1.0, 0.2, 0.05, key="train_margin")
        temperature = b.number_input("Temperature (in-batch)", 0.01, 1.0, 0.05, 0.01, key="train_temperature")
        negatives = b.selectbox("Explicit negative", list(NEGATIVES), format_func=NEGATIVES.get, key="train_negatives",
                                help="Random: a passage drawn at random. Hard: one mined with the random checkpoint "
                                     "(artifacts/mined/negatives.json).")
        lr = c.number_input("Learning rate", 1e-5, 0.1, 2e-3, 5e-4, format="%.4f", key="train_lr")
        epochs = c.number_input("Epochs", 1, 20, 1, key="train_epochs")
        batch_size = c.number_input("Batch size", 4, 512, 64, step=16, key="train_batch_size")
        max_queries = c.number_input("Max training queries (0: all)", 0, 100_000, 300, step=100, key="train_max_queries")
        if not st.form_submit_button("Start training", type="primary"):
            return
    try:
        cfg = runs.run_config(art, tower=tower, hidden=int(hidden), bidirectional=bidirectional,
                              freeze_embeddings=frozen, loss=loss, margin=float(margin), temperature=float(temperature),
                              negatives=negatives, lr=float(lr), epochs=int(epochs), batch_size=int(batch_size),
                              max_queries=int(max_queries), warmup_steps=int(warmup))
        runs.launch(cfg, art)
    except runs.RunError as e:
        st.error(str(e), icon="✋")
        return
    st.rerun()


def outcome(job: runs.Job) -> None:
    """How the latest run ended."""
    if job.status == "done":
        st.success(f"**{job.name}** finished in {job.seconds:.0f} s: pick it on the Search and Compare pages.", icon="✅")
    elif job.status == "cancelled":
        st.warning(f"**{job.name}** was cancelled after {job.seconds:.0f} s; no checkpoint was kept.", icon="⏹️")
    elif job.status == "failed":
        st.error(f"**{job.name}** failed after {job.seconds:.0f} s; no checkpoint was kept. "
                 f"How it ended, and the end of its output:\n```\n{job.error}\n```", icon="💥")
    elif job.status == runs.UNREADABLE:
        st.warning(f"**{job.name}** is unreadable: {job.error}", icon="🧩")


st.title("🏋️ Training lab")
st.caption("Every checkpoint's training overlaid: the random-negative loss collapsing as its triplets go "
           "inactive, the hard-negative run still learning. Start a run of your own below.")
art = artifacts_dir()
active = runs.refresh(art)
history = runs.jobs(art)
if active is None and history:
    outcome(history[-1])


@st.fragment(run_every=POLL_S if active else None)
def lab() -> None:
    job = runs.refresh(art)
    if active and (job is None or job.run != active.run):
        st.rerun()                        # the run ended: redraw the whole page (table, selectors)
    logs = runs.logs(art)
    if job:
        state = runs.progress(job, art)
        bar, stop = st.columns([5, 1], vertical_alignment="bottom")
        bar.progress(state.fraction, text=f"**{job.name}** · {state.text} · {job.seconds:.0f} s")
        if stop.button("Cancel run", key="train_cancel", width="stretch"):
            try:
                runs.cancel(art)
            except runs.RunError as e:
                st.error(str(e), icon="✋")
                return
            st.rerun()
    names = list(logs)
    latest = sorted(n for n in names if n.startswith(runs.RUN_PREFIX))[-1:]     # run IDs are start times
    default = [n for n in PREFERRED if n in names] + latest
    pick, recall = st.columns([5, 1], vertical_alignment="bottom")
    shown = pick.multiselect("Checkpoints and runs to overlay", names, default=default)   # resets when a run appears
    k = recall.selectbox("Recall@k", [1, 10, 100], index=1, key="train_recall_k")
    if shown:
        curves({n: logs[n] for n in shown}, k)
    else:
        st.info("No training logs yet: run `python -m core build`, or start a run below.", icon="📈")


lab()
launcher(art)

st.subheader("Runs")
rows = runs.table(art)
st.caption(f"Every checkpoint and launched run; also in `{runs.runs_dir(art)}/runs.csv` and `runs.json`. "
           "Click a column to sort.")
st.dataframe(pd.DataFrame(rows, columns=list(rows[0]) if rows else None), hide_index=True)
down_csv, down_json, _ = st.columns([1, 1, 4])
down_csv.download_button("Download CSV", runs.table_csv(rows), "runs.csv", "text/csv", key="train_csv")
down_json.download_button("Download JSON", json.dumps(rows, indent=2), "runs.json", "application/json", key="train_json")
