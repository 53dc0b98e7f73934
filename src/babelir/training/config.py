"""Training configuration: one dataclass, read from YAML, every field also a CLI flag."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from babelir.errors import BabelirError
from babelir.io import read_yaml_settings


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved, resolved, in the run folder)."""

    pairs: str = ""  # parquet written by `babelir data build-pairs`
    out: str = "runs/train"
    model: str = "multilingual-e5-small"
    strategy: str = "hybrid"  # xx-mono | xy | hybrid | xx | en-en
    alpha: float = 0.5  # hybrid: probability of a monolingual batch
    dataset_temperature: float = 1.0  # dataset choice ∝ size^(1/T)
    languages: list[str] = field(default_factory=list)  # empty = all languages in the pairs
    batch_size: int = 32
    steps: int = 300
    learning_rate: float = 3e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    temperature: float = 0.05  # InfoNCE: logits = cos / temperature
    max_length: int = 128
    freeze_embeddings: bool = True
    cached_loss: bool = False  # GradCache (CachedMultipleNegativesRankingLoss)
    mini_batch_size: int = 16  # for cached_loss
    hard_negatives: bool = False  # use the pairs' `negative` column (babelir data mine-negatives)
    max_grad_norm: float = 1.0
    eval_every: int = 50  # steps between dev-loss evaluations (0 = never)
    dev_batches: int = 8
    save_every: int = 50  # steps between checkpoints
    select_best: bool = True  # final = the checkpoint with the lowest dev loss
    seed: int = 0
    benchmark: str = "xquad-r"  # evaluation benchmark the leakage guard compares with
    allow_leakage: bool = False
    data_dir: str | None = None
    cache_dir: str | None = None
    query_prefix: str | None = None
    passage_prefix: str | None = None
    device: str | None = None
    stop_after: int | None = None  # stop (checkpointed) after this step; resume later
    log_batches: bool = False  # write every rank's example ids per step (checks, debugging)

    def validate(self) -> None:
        if not self.pairs:
            raise BabelirError("no training pairs: set `pairs:` in the config or --pairs")
        if not 0.0 <= self.alpha <= 1.0:
            raise BabelirError(f"alpha must be in [0, 1], got {self.alpha}")
        for name in ("batch_size", "steps", "max_length", "mini_batch_size", "dev_batches"):
            if getattr(self, name) < 1:
                raise BabelirError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise BabelirError(f"temperature must be positive, got {self.temperature}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise BabelirError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def load_config(path: str | Path | None, overrides: dict) -> TrainConfig:
    """The YAML file's values, then the CLI's (``None`` = not given), validated."""
    values = read_yaml_settings(path, FIELDS, "config") if path is not None else {}
    values.update({k: v for k, v in overrides.items() if v is not None and k in FIELDS})
    config = TrainConfig(**values)
    config.validate()
    return config


def add_config_flags(parser) -> None:
    """One CLI flag per config field (--batch-size, --no-freeze-embeddings, …)."""
    for name, spec in FIELDS.items():
        flag = "--" + name.replace("_", "-")
        default = spec.default if spec.default is not dataclasses.MISSING else None
        if isinstance(default, bool):
            parser.add_argument(flag, dest=name, action="store_true", default=None)
            parser.add_argument("--no-" + name.replace("_", "-"), dest=name,
                                action="store_false", default=None)
        elif name == "languages":
            parser.add_argument(flag, dest=name, default=None,
                                type=lambda v: [x for x in v.split(",") if x])
        elif name == "stop_after":
            parser.add_argument(flag, dest=name, type=int, default=None)
        else:
            kind = type(default) if default is not None else str
            parser.add_argument(flag, dest=name, type=kind, default=None)
