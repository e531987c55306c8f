"""Tiny corpora the corpus tests make under their own temporary folder: a CSV of passages with its
own column names (no queries, no judgements) and a BEIR collection (corpus.jsonl, queries.jsonl,
qrels/test.tsv; graded judgements), as a folder and as a zip of it. Topics with separable words, so a
search's first result is predictable."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

from tests.conftest import QUESTIONS, TOPICS

EXTRA = {
    "coffee": ["a latte is espresso with steamed milk", "coffee plants grow in the tropics"],
    "python": ["the reticulated python is the longest snake", "a python swallows its prey whole"],
    "paris": ["the louvre museum is in paris", "the seine river flows through paris"],
    "moon": ["the moon has no air and no weather", "a full moon happens about once a month"],
    "piano": ["a grand piano has strings and hammers", "piano lessons start with scales"],
    "rain": ["a rainbow appears after rain in sunshine", "monsoon rain falls in summer in india"],
}


def passages() -> list[tuple[str, str, str]]:
    """(id, title, text) of every passage: each topic's four."""
    rows = []
    for topic, texts in TOPICS.items():
        for i, text in enumerate(texts + EXTRA[topic]):
            rows.append((f"{topic}-{i}", topic.title(), text))
    return rows


def write_csv(path: Path) -> Path:
    """Passages under columns the loader cannot guess (`snippet`, `heading`, `ref`): the text column must
    be chosen."""
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["ref", "heading", "snippet"])
        out.writerows(passages())
    return path


def write_beir(folder: Path) -> Path:
    """A BEIR collection: every passage, each topic's questions, the judged passage of each (score 2)
    and the topic's other first passage (score 1)."""
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for pid, title, text in passages():
            f.write(json.dumps({"_id": pid, "title": title, "text": text}) + "\n")
    queries, qrels = [], ["query-id\tcorpus-id\tscore"]
    for topic, questions in QUESTIONS.items():
        for i, question in enumerate(questions):
            qid = f"q-{topic}-{i}"
            queries.append(json.dumps({"_id": qid, "text": question}))
            qrels += [f"{qid}\t{topic}-{i % 2}\t2", f"{qid}\t{topic}-{1 - i % 2}\t1"]
    (folder / "queries.jsonl").write_text("\n".join(queries) + "\n")
    (folder / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n")
    return folder


def zip_folder(folder: Path, path: Path) -> Path:
    """`folder` zipped with its name as the top folder, as a teacher zips a BEIR download."""
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, Path(folder.name) / f.relative_to(folder))
    return path
