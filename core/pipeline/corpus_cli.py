"""`python -m core corpus {add,list,remove,demo}` and `python -m core eval --corpus NAME`."""

from __future__ import annotations

import json
from pathlib import Path

from core.common.artifacts import artifacts_dir, folders_with
from core.data.corpora import DEFAULT, demo_file, names, open_corpus
from core.data.corpus import DataSourceError
from core.data.stored import write_corpus
from core.data.tables import Columns
from core.pipeline import new_corpus


def _artifacts(args) -> Path:
    return Path(args.artifacts or artifacts_dir())


def add(args) -> int:
    from core.training.tracking import tqdm_tally

    columns = Columns(args.text, args.id, args.title)
    corpus = new_corpus.add(
        args.name, args.source, columns, _artifacts(args), tqdm_tally(), index=args.index, maps=args.maps
    )
    judged = "with judged queries" if corpus.judged else "without judged queries (search only)"
    print(f"added {args.name!r}: {len(corpus.passages):,} passages, {judged}")
    return 0


def show(args) -> int:
    artifacts = _artifacts(args)
    for name in names(artifacts):
        try:
            corpus = open_corpus(name, artifacts)
        except DataSourceError as e:
            print(f"{name}: unreadable ({e})")
            continue
        judged = sum(bool(p) for p in corpus.positives.values())
        print(
            f"{name}: {len(corpus.passages):,} passages, {len(corpus.queries):,} queries, {judged:,} judged"
        )
    return 0


def remove(args) -> int:
    new_corpus.remove(args.name, _artifacts(args))
    print(f"removed {args.name!r}")
    return 0


def made_on(artifacts: Path) -> dict[str, str]:
    """The corpus fingerprint each checkpoint `artifacts/NAME/model.pt` records, by NAME."""
    from core.model.two_tower import load_checkpoint

    return {
        name: load_checkpoint(path)[2].get("data", {}).get("fingerprint")
        for name, path in folders_with(artifacts, "model.pt").items()
    }


def demo(args) -> int:
    """Write the demo corpus, which must be the corpus the checkpoints beside it were made on."""
    from core.data.corpora import load_corpus

    corpus, artifacts = load_corpus(args.source), _artifacts(args)
    checkpoints = made_on(artifacts)
    others = {n: fp for n, fp in checkpoints.items() if fp != corpus.fingerprint()}
    if others:
        raise DataSourceError(
            f"{args.source} is not the corpus the checkpoints in {artifacts} were made on (fingerprint "
            f"{corpus.fingerprint()}; {', '.join(f'{n}: {fp}' for n, fp in others.items())}): give the "
            f"files they were built from, or build on these files first (MSMARCO_SOURCE={args.source} "
            "python -m core build --force); nothing was written"
        )
    corpus.source = "MS MARCO v1.1 (the demo corpus)"
    path = demo_file(artifacts)
    write_corpus(corpus, path)
    print(
        f"wrote {path}: {len(corpus.passages):,} passages, {len(corpus.queries):,} queries, "
        f"fingerprint {corpus.fingerprint()}: the corpus of the checkpoints here "
        f"({', '.join(checkpoints) or 'none yet'})"
    )
    return 0


def transfer_table(corpora: dict) -> list[str]:
    """Markdown rows of every judged corpus in metrics.json's `corpora`: each ranker's nDCG@10, MRR@10
    and R@100, and for the checkpoints the nDCG@10 without the corpus's new words."""
    rows = [
        "| corpus | ranker | nDCG@10 | MRR@10 | R@100 | nDCG@10 without new words | queries |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in corpora.items():
        without = entry.get("without_new_words", {})
        for model, m in entry["models"].items():
            old = without.get(model, {}).get("ndcg@10")
            cells = [m["ndcg@10"], m["mrr@10"], m["recall@100"], "–" if old is None else old]
            rows.append(f"| {name} | {model} | " + " | ".join(map(str, cells)) + f" | {m['queries']} |")
    return rows


def table(args) -> int:
    from core.common.artifacts import read_json

    corpora = read_json(_artifacts(args) / "metrics.json", {}).get("corpora", {})
    print("\n".join(transfer_table(corpora)) if corpora else "no corpus measured: run `python -m core build`")
    return 0


def pseudo(args) -> int:
    """`python -m core pseudo --corpus NAME`: the corpus's pseudo-queries (core.data.pseudo), written
    where a class can read them, with how many of each kind and a few of each."""
    from core.data.pseudo import counts, pseudo_path, pseudo_queries, write_pseudo
    from core.pipeline.checks import check_outputs

    artifacts = _artifacts(args)
    out = Path(args.out) if args.out else pseudo_path(args.corpus, artifacts)
    check_outputs({"--out": (out, "pseudo")})
    corpus = open_corpus(args.corpus, artifacts)
    made = pseudo_queries(corpus, args.seed)
    write_pseudo(out, made, corpus, args.seed)
    print(f"{len(made):,} pseudo-queries from {len(corpus.passages):,} passages of {args.corpus!r} -> {out}")
    for kind, n in counts(made).items():
        print(f"  {kind}: {n:,}")
        for q in [q for q in made if q.kind == kind][:3]:
            print(f"    {q.query[:100]!r} ({q.pid})")
    return 0


def adapt(args) -> int:
    """`python -m core adapt --corpus NAME --from hard`: the checkpoint continued on the corpus's
    pseudo-queries (core.training.adapt), written as a checkpoint named for both (`hard@NAME`)."""
    import signal
    import sys

    from core.common.artifacts import adapted_name, checkpoint_path
    from core.common.outputs import OutputError, replace_problem
    from core.data.pseudo import KINDS
    from core.pipeline.checks import check_flags, check_outputs
    from core.training import adapt as adapting
    from core.training.tracking import combine, console, progress_file

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or set(kinds) - set(KINDS):
        raise OutputError(f"--kinds {args.kinds!r}: give some of {', '.join(KINDS)}, separated by commas")
    check_flags({"adapt.steps": args.steps, "train.threads": args.threads})  # before any work
    check_outputs({"--progress-file": (args.progress_file, "progress")})
    artifacts = _artifacts(args)
    name = adapted_name(args.start, args.corpus) + ("-control" if args.control else "")
    out = Path(args.out) if args.out else artifacts / name
    problem = replace_problem(out, args.force) or _not_adapted(out)
    if problem:
        raise OutputError(problem)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cancelled: `finally` clears up, no partial left
    plan = adapting.Adaptation(
        open_corpus(args.corpus, artifacts),
        args.corpus,
        args.start,
        checkpoint_path(args.start, artifacts),
        args.negatives,
        kinds,
        args.steps,
        args.seed,
        open_corpus(DEFAULT, artifacts) if args.control else None,  # MS MARCO's training queries
        args.threads,
    )
    hooks = [console()] + ([progress_file(args.progress_file)] if args.progress_file else [])
    log = adapting.adapt(plan, out, combine(*hooks), args.force)
    weight = adapting.fit_fusion(out / "model.pt", plan.corpus, artifacts, out.name)
    print(json.dumps({"checkpoint": str(out / "model.pt"), "steps": log["steps"], **log["epochs"][-1]}))
    if weight is not None:
        print(f"hybrid: {weight} of the model to {1 - weight:.2f} of BM25, fitted on the tuning queries")
    print(f"measure it: python -m core eval --corpus {args.corpus} --checkpoint {out / 'model.pt'}")
    return 0


def _not_adapted(out: Path) -> str | None:
    """What is wrong with replacing the checkpoint in `out`: one that `adapt` did not write (the
    checkpoint adapted from, say) is never replaced."""
    from core.training.adapt import is_adapted

    if not (out / "model.pt").is_file() or is_adapted(out / "model.pt"):
        return None
    return f"--out {out} holds a checkpoint `adapt` did not write; it is never replaced: give another folder"


ACTIONS = {"add": add, "list": show, "remove": remove, "demo": demo, "table": table}


def eval_corpus(args) -> int:
    models = (args.checkpoint,) if args.checkpoint else new_corpus.CORPUS_MODELS
    name = args.corpus
    out = new_corpus.evaluate(name, _artifacts(args), models, args.new_words, args.glove, not args.json)
    if args.json:
        print(json.dumps(out))
        return 0
    if name != DEFAULT:
        print(f"{name}: the hybrids' weights are MS MARCO's (fitted on its tuning slice)")
    for model, m in out.items():
        print(f"{model:16s} " + "  ".join(f"{k} {v}" for k, v in m.items()))
    return 0
