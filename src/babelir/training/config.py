"""Training configuration: one dataclass, read from YAML, every field also a CLI flag.

Every value is checked against the field's annotation before any work starts
(``check_value``), and then against its range (``TrainConfig.problems``); an error names
the config file (or ``source``: the command line, an experiment file) and the field. A plain
dataclass and this small checker rather than pydantic: pydantic is not a dependency, and its
lax mode would accept exactly what must be refused here ('32' for an int, 3.5 for 3 steps).

Rules, by annotation:

* ``int``: an integer; not a bool, not a float (``steps: 3.5``), not a string
  (``batch_size: '32'``).
* ``float``: an int or a float (made a float), or a string that reads as a finite decimal
  number, which is converted: PyYAML follows YAML 1.1, where ``3e-5`` (no dot) is a string,
  not a float, so ``learning_rate: 3e-5`` means 3e-05. Not a bool, not NaN or infinity.
* ``bool``: true or false only (not 0/1, not "yes" in quotes).
* ``str``: a string.
* ``list[str]``: a list of non-empty strings; a bare string is split on commas, like the
  ``--languages`` flag (``languages: en`` is ``[en]``, ``languages: en,de`` is ``[en, de]``).
* ``X | None``: None, or what X accepts.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from babelir.errors import BabelirError
from babelir.io import read_yaml_settings

PRECISIONS = ("fp32", "bf16", "fp16")
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


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
    steps: int = 150
    learning_rate: float = 3e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    temperature: float = 0.05  # InfoNCE: logits = cos / temperature
    max_length: int = 128
    freeze_embeddings: bool = True
    lora_rank: int = 0  # LoRA adapters of this rank instead of full fine-tuning (0 = off)
    lora_alpha: float = 32.0  # LoRA scaling: the update is (lora_alpha / lora_rank) * B A
    lora_targets: list[str] = field(default_factory=lambda: ["query", "key", "value", "dense"])
    precision: str = "fp32"  # fp32 | bf16 | fp16 (fp16: CUDA only): autocast of forward and loss
    cached_loss: bool = False  # GradCache (CachedMultipleNegativesRankingLoss)
    mini_batch_size: int = 16  # for cached_loss
    hard_negatives: bool = False  # use the pairs' `negative` column (babelir data mine-negatives)
    max_grad_norm: float = 1.0
    distill_weight: float = 0.0  # beta: keep embeddings near the untuned model's (training/losses.py)
    parallel_weight: float = 0.0  # gamma: translations onto the untuned English embedding (XNLI)
    parallel_batch_size: int = 16  # parallel sentence pairs per step (parallel_weight > 0)
    parallel_sentences: int = 2000  # XNLI train-split premise groups to draw them from
    eval_every: int = 25  # steps between dev-loss (and select_on) evaluations (0 = never)
    dev_batches: int = 8
    save_every: int = 25  # steps between checkpoints
    select_best: bool = True  # final = the best checkpoint (select_on), not the last one
    select_on: str = "mlqa-val:mean_map"  # dev_loss | <pool>:<metric> (training/trainer.py)
    merge: float = 0.7  # WiSE-FT lambda: final/ = (1 - lambda) * model + lambda * tuned/; 1 = off
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

    def problems(self) -> list[tuple[str, str]]:
        """(field, what is wrong) for every setting out of its range (types: ``check_value``)."""
        from babelir.sampling.strategies import STRATEGIES
        from babelir.training.leakage import KNOWN_BENCHMARKS

        bad = []
        if not self.pairs:
            bad.append(("pairs", "is not set: no training pairs (`pairs:` in the config, or "
                                 "--pairs)"))
        for name in ("batch_size", "steps", "max_length", "mini_batch_size", "dev_batches",
                     "save_every", "parallel_batch_size", "parallel_sentences"):
            if getattr(self, name) < 1:
                bad.append((name, f"must be at least 1, got {getattr(self, name)}"))
        for name in ("eval_every", "seed", "lora_rank"):
            if getattr(self, name) < 0:
                bad.append((name, f"must be at least 0, got {getattr(self, name)}"))
        if self.stop_after is not None and self.stop_after < 1:
            bad.append(("stop_after", f"must be at least 1 (or absent), got {self.stop_after}"))
        for name in ("learning_rate", "temperature", "dataset_temperature", "lora_alpha"):
            if getattr(self, name) <= 0:
                bad.append((name, f"must be positive, got {getattr(self, name)}"))
        if self.cached_loss and (self.distill_weight or self.parallel_weight):
            bad.append(("cached_loss", "cannot be combined with distill_weight or "
                                       "parallel_weight (GradCache has no teacher term)"))
        for name in ("weight_decay", "max_grad_norm", "distill_weight", "parallel_weight"):
            if getattr(self, name) < 0:
                bad.append((name, f"must be at least 0, got {getattr(self, name)}"))
        if self.lora_rank and not self.lora_targets:
            bad.append(("lora_targets", "is empty: LoRA needs the names of the linear layers "
                                        "to adapt, e.g. query,key,value,dense"))
        if not 0.0 <= self.merge <= 1.0:
            bad.append(("merge", f"must be in [0, 1], got {self.merge}"))
        if not 0.0 <= self.alpha <= 1.0:
            bad.append(("alpha", f"must be in [0, 1], got {self.alpha}"))
        if not 0.0 <= self.warmup_ratio < 1.0:
            bad.append(("warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio}"))
        try:
            from babelir.training.trainer import parse_select_on

            parse_select_on(self.select_on)
        except BabelirError as exc:
            bad.append(("select_on", str(exc).replace("select_on ", "", 1)))
        for name, value, valid in (("strategy", self.strategy, STRATEGIES),
                                   ("precision", self.precision, PRECISIONS),
                                   ("benchmark", self.benchmark, KNOWN_BENCHMARKS)):
            if value not in valid:
                bad.append((name, f"is unknown: {value!r}; valid: {', '.join(valid)}"))
        return bad

    def validate(self, sources: dict[str, str] | None = None) -> None:
        """Raise a BabelirError naming every setting out of range, and where it was set
        (``sources``: field -> "config <file>", "command line", …)."""
        _raise(self.problems(), sources or {})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# The help of every field's flag (`babelir train --help`); the default is added from the
# dataclass. A field without an entry fails tests/test_cli_help.py.
HELP = {
    "pairs": "training pairs: the Parquet file of `babelir data build-pairs` (required)",
    "out": "run folder (config.yaml, logs, checkpoints, final/)",
    "model": "starting model: 'multilingual-e5-small' (bundled), a HF id or a local folder",
    "strategy": "batch composition: xx-mono (one language per batch), xy (query language != "
                "passage language), hybrid (xx-mono with probability --alpha, else xy), "
                "xx (LAReQA X-X: mixed languages, each pair monolingual), en-en",
    "alpha": "hybrid: probability of a monolingual (xx-mono) batch, in [0, 1]",
    "dataset_temperature": "T: each batch's dataset is drawn with probability ∝ size^(1/T) "
                           "(1: by size; larger: flatter)",
    "languages": "comma-separated languages to train on, e.g. en,de,zh (default: every "
                 "language in the pairs)",
    "batch_size": "pairs per global batch (all processes together)",
    "steps": "optimizer steps",
    "learning_rate": "peak learning rate (AdamW; linear warm-up, then linear decay)",
    "weight_decay": "AdamW weight decay",
    "warmup_ratio": "fraction of the steps spent warming up, in [0, 1)",
    "temperature": "InfoNCE temperature: logits = cosine / temperature",
    "max_length": "max tokens per query or passage",
    "freeze_embeddings": "freeze the word-embedding matrix (--no-freeze-embeddings trains it)",
    "lora_rank": "train LoRA adapters of this rank (peft; the starting weights stay frozen, "
                 "every saved model is merged) instead of every weight; 0 = full fine-tuning",
    "lora_alpha": "LoRA scaling: the update of a layer is (lora_alpha / lora_rank) * B A",
    "lora_targets": "comma-separated names of the linear layers LoRA adapts (with "
                    "--lora-rank > 0)",
    "precision": "autocast of forward and loss (fp16: CUDA only)",
    "cached_loss": "GradCache (CachedMultipleNegativesRankingLoss): large batches in bounded "
                   "memory",
    "mini_batch_size": "with --cached-loss: pairs per forward/backward chunk",
    "hard_negatives": "add the pairs' `negative` column as a hard negative (`babelir data "
                      "mine-negatives`)",
    "max_grad_norm": "gradient clipping: max gradient norm",
    "distill_weight": "beta: keep embeddings near the untuned model's (embedding "
                      "distillation; 0 = off)",
    "parallel_weight": "gamma: pull translations onto the untuned model's English embedding "
                       "(parallel-sentence KD on XNLI; 0 = off)",
    "parallel_batch_size": "parallel sentence pairs per step (with --parallel-weight > 0)",
    "parallel_sentences": "XNLI train-split premise groups the parallel pairs are drawn from",
    "eval_every": "steps between dev-loss evaluations (0 = never)",
    "dev_batches": "dev-split batches per dev-loss evaluation",
    "save_every": "steps between checkpoints",
    "select_best": "final/ = the best checkpoint by --select-on (--no-select-best: the last "
                   "step)",
    "select_on": "how --select-best ranks checkpoints: dev_loss, or <pool>:<metric> on a "
                 "validation pool, e.g. mlqa-val:mean_map, xnli-val:multi_map",
    "merge": "WiSE-FT lambda: final/ = (1 - lambda) * starting model + lambda * the selected "
             "checkpoint (kept as tuned/); 1 = the tuned weights as they are",
    "seed": "random seed (batches, initialisation, dropout)",
    "benchmark": "evaluation benchmark the leakage guard compares the training examples with",
    "allow_leakage": "train even when the leakage guard finds overlap with --benchmark",
    "data_dir": "data folder (default: $BABELIR_DATA)",
    "cache_dir": "cache folder (default: $BABELIR_CACHE or ~/.cache/babelir)",
    "query_prefix": "override the model's query prefix (default: the model's own)",
    "passage_prefix": "override the model's passage prefix (default: the model's own)",
    "device": "cpu or cuda (default: cuda if available)",
    "stop_after": "stop (checkpointed) after this step; --resume continues (default: run "
                  "all --steps)",
    "log_batches": "write every rank's example ids per step (checks, debugging)",
}


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}

# The recipe of issue P10 (results/xquadr-recipe) changed these defaults; a run folder's
# config.yaml written before a setting existed implies the value it had then, not today's
# default (no WiSE-FT merge; the lowest-dev-loss checkpoint).
DEFAULTS_BEFORE = {"merge": 1.0, "select_on": "dev_loss"}


def implied_settings(saved: dict) -> dict:
    """A saved config.yaml's settings, with what an older babelir left out filled in: the
    value it implied (``DEFAULTS_BEFORE``), else today's default."""
    return {**TrainConfig().to_dict(), **DEFAULTS_BEFORE, **saved}
TYPES = typing.get_type_hints(TrainConfig)  # the annotations, resolved


def _raise(problems: list[tuple[str, str]], sources: dict[str, str]) -> None:
    lines = [f"{sources[name]}: {name} {what}" if sources.get(name) else f"{name} {what}"
             for name, what in problems]
    if len(lines) == 1:
        raise BabelirError(lines[0])
    if lines:
        raise BabelirError("invalid training settings:\n  " + "\n  ".join(lines))


def _shown(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_value(value: object, kind: object) -> object:
    """``value`` as a field annotated ``kind`` takes it (see the module docstring), or a
    ValueError whose text completes "<field> …"."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None and len(options) < len(typing.get_args(kind)):
            return None
        return check_value(value, options[0])
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {_shown(value)}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            quoted = " (write it without quotes)" if isinstance(value, str) else ""
            raise ValueError(f"must be a whole number, got {_shown(value)}{quoted}")
        return value
    if kind is float:
        if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1: `3e-5` is a string
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {_shown(value)}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {_shown(value)}")
        return value
    if typing.get_origin(kind) is list and typing.get_args(kind) == (str,):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip()
                                                  for v in value):
            raise ValueError(f"must be a list of non-empty strings, got {_shown(value)}")
        return list(value)
    raise TypeError(f"no check for the annotation {kind!r}")  # a new kind of field: add one


def load_config(path: str | Path | None, overrides: dict,
                source: str | None = None) -> TrainConfig:
    """The YAML file's values, then ``overrides`` (``None`` = not given; set in ``source``,
    e.g. "command line"), type- and range-checked before anything else happens: an error
    names the file (or ``source``) and the field."""
    values = read_yaml_settings(path, FIELDS, "config") if path is not None else {}
    sources = {name: f"config {path}" for name in values}
    given = {k: v for k, v in overrides.items() if v is not None and k in FIELDS}
    values.update(given)
    sources.update({name: source for name in given if source})
    problems = []
    for name, value in values.items():
        try:
            values[name] = check_value(value, TYPES[name])
        except ValueError as exc:
            problems.append((name, str(exc)))
    _raise(problems, sources)
    config = TrainConfig(**values)
    config.validate(sources)
    return config


def flag_choices() -> dict[str, tuple[str, ...]]:
    """The fields with a fixed set of values, and the set (the flags' ``choices``)."""
    from babelir.sampling.strategies import STRATEGIES
    from babelir.training.leakage import KNOWN_BENCHMARKS

    return {"strategy": STRATEGIES, "precision": PRECISIONS, "benchmark": KNOWN_BENCHMARKS}


def _flag_help(name: str, default: object) -> str:
    """The field's help, with its default unless the help names one already."""
    text = HELP.get(name, "")
    if isinstance(default, bool):
        return f"{text} (default: {'on' if default else 'off'})"
    if default in (None, "", []) or "default" in text:
        return text
    return f"{text} (default: {default})"


def add_config_flags(parser) -> None:
    """One CLI flag per config field (--batch-size, --no-freeze-embeddings, …), with the
    field's help and default. Every flag defaults to None (not given): ``load_config`` then
    keeps the YAML value, or the field's default."""
    choices = flag_choices()
    for name, spec in FIELDS.items():
        flag = "--" + name.replace("_", "-")
        default = spec.default if spec.default is not dataclasses.MISSING else None
        shown = spec.default_factory() if spec.default_factory is not dataclasses.MISSING \
            else default
        text = _flag_help(name, shown)
        if isinstance(default, bool):
            parser.add_argument(flag, dest=name, action="store_true", default=None, help=text)
            parser.add_argument("--no-" + name.replace("_", "-"), dest=name,
                                action="store_false", default=None,
                                help=f"the opposite of {flag}")
        elif typing.get_origin(TYPES[name]) is list:  # languages, lora_targets
            parser.add_argument(flag, dest=name, default=None, help=text,
                                type=lambda v: [x for x in v.split(",") if x])
        elif name == "stop_after":
            parser.add_argument(flag, dest=name, type=int, default=None, help=text)
        else:
            kind = type(default) if default is not None else str
            parser.add_argument(flag, dest=name, type=kind, default=None, help=text,
                                choices=choices.get(name))
