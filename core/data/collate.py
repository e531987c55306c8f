"""Collator: token-id lists -> padded (ids, lengths) tensors, training triplets -> model batches,
and batches of triplets of similar lengths."""

from __future__ import annotations

import numpy as np
import torch

from core.data.corpus import Corpus
from core.data.triplets import Triplet
from core.data.vocab import PAD_ID


def pad(id_lists: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (B, T) padded with <pad>, lengths (B,))."""
    lengths = torch.tensor([len(x) for x in id_lists], dtype=torch.long)
    ids = torch.full((len(id_lists), int(lengths.max())), PAD_ID, dtype=torch.long)
    for i, x in enumerate(id_lists):
        ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
    return ids, lengths


def collate_triplets(batch: list[Triplet], corpus: Corpus, query_ids: dict, passage_ids: dict):
    """(query batch, passage batch of the B positives then the B*k negatives, query by query,
    invalid (B, B + B*k)): a candidate is invalid for a query when it is one of that query's
    positives other than its own column."""
    qids, pos = [t[0] for t in batch], [t[1] for t in batch]
    passages = pos + [n for t in batch for n in t[2:]]
    columns: dict[str, list[int]] = {}
    for j, c in enumerate(passages):
        columns.setdefault(c, []).append(j)
    invalid = torch.zeros(len(qids), len(passages), dtype=torch.bool)
    for i, q in enumerate(qids):
        for p in corpus.positives[q]:
            invalid[i, [j for j in columns.get(p, []) if j != i]] = True
    return pad([query_ids[q] for q in qids]), pad([passage_ids[p] for p in passages]), invalid


def length_batches(
    triplets: list[Triplet], length, batch_size: int, rng: np.random.Generator, window: int = 50
) -> list[list[Triplet]]:
    """Shuffled triplets cut into batches of similar `length(triplet)` (sorted within windows of
    `window` batches), the batches then shuffled: padding is what a padded GRU step wastes."""
    order = rng.permutation(len(triplets))
    batches = []
    for start in range(0, len(order), batch_size * window):
        chunk = sorted(order[start : start + batch_size * window], key=lambda i: length(triplets[i]))
        batches += [
            [triplets[i] for i in chunk[b : b + batch_size]] for b in range(0, len(chunk), batch_size)
        ]
    return [batches[i] for i in rng.permutation(len(batches))]
