"""What the demo is, the headline metrics from artifacts/metrics.json, the corpus."""
import pandas as pd
import streamlit as st

import app_state as ui
from core.artifacts import artifacts_dir
from core.engine import metrics_note, metrics_rows, read_metrics

st.title("Two-tower neural search over MS MARCO")
st.markdown(
    "A query tower and a passage tower (a bidirectional GRU over frozen GloVe word vectors) map text to "
    "unit vectors; search is cosine similarity over every passage, served from a Chroma HNSW index. "
    "Two checkpoints differ only in the negatives they were trained against:\n"
    "- **random**: each query's positive passage against passages drawn at random, easy to tell apart;\n"
    "- **hard**: against *hard negatives*, passages the model itself ranked high but that are not the "
    "answer, so it learns the finer distinctions.\n\n"
    "Use **Search** to query one checkpoint and **Compare** to watch the same query move between them.")

artifacts = artifacts_dir()
metrics = read_metrics(artifacts)
rows = metrics_rows(metrics)
by_name = {r["model"]: r for r in rows}
cols = st.columns(4)
for col, name in zip(cols, ("random", "hard")):
    value = by_name[name]["mrr@10"]
    col.metric(f"MRR@10 · {name}", "—" if value is None else f"{value:.3f}")
r_random, r_hard = by_name["random"]["mrr@10"], by_name["hard"]["mrr@10"]
if r_random is not None and r_hard is not None:
    cols[2].metric("hard vs random", f"{r_hard - r_random:+.3f}", delta=f"{(r_hard - r_random) / r_random:+.1%}")
cat = ui.catalog()
cols[3].metric("Passages searched", f"{len(cat):,}", help=f"{len(cat.corpus.queries):,} queries · source: {cat.corpus.source}")

st.subheader("Full retrieval over the corpus")
if not any(r["measured"] for r in rows):
    st.info(f"No metrics yet: `{artifacts / 'metrics.json'}` is missing or unreadable. "
            "Run `python -m core build` to train both checkpoints and measure every model.", icon="📏")
else:
    st.caption(metrics_note(metrics))
    table = pd.DataFrame([{k: "—" if v is None else f"{v:.3f}" if isinstance(v, float) else v
                           for k, v in r.items() if k != "measured"} for r in rows]).set_index("model")
    st.dataframe(table)
    missing = [r["model"] for r in rows if not r["measured"]]
    if missing:
        st.caption(f"Not measured yet: {', '.join(missing)} — `python -m core build` fills them in.")
