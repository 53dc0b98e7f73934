"""Language-aware batch composition for training multilingual bi-encoders.

The lever studied here (arXiv 2408.10536, after LAReQA) is WHICH LANGUAGES share a training
batch: with in-batch negatives, a batch whose pairs are all in one language (X-X-mono) or
all cross-lingual (X-Y) teaches the model something different from a language-mixed one.
A batch is a list of (example, query language, passage language); the other examples'
passages are its negatives, so the examples of a batch are always distinct (a translation
of a positive must never be a negative) and come from one dataset.

Why hand-written: data loaders and samplers in PyTorch, Hugging Face datasets or
sentence-transformers balance or group rows (by length, by label, "no duplicates in a
batch"), but none chooses, per example, a query language and a passage language under a
batch-level rule (one language per batch, q != p per pair, a mix of both), nor knows that
the translations of an example are the same example. These rules are a few lines of numpy
each, so they live here, deterministic and resumable by construction. The exact rules are
in ``babelir.sampling.strategies``.

Pieces: ``ExamplePool`` (which language versions exist), one ``BatchSampler`` per strategy
(``make_sampler`` picks one by name), ``Batch``, ``shard`` (a rank's part under DDP) and
``summarise`` (counts for the run's data summary).
"""

from babelir.sampling.batch import KINDS, Batch, shard, summarise
from babelir.sampling.pool import ExamplePool
from babelir.sampling.strategies import (
    SAMPLERS,
    STRATEGIES,
    BatchSampler,
    EnEnSampler,
    HybridSampler,
    XXMonoSampler,
    XXSampler,
    XYSampler,
    dataset_probabilities,
    make_sampler,
)

__all__ = [
    "KINDS",
    "SAMPLERS",
    "STRATEGIES",
    "Batch",
    "BatchSampler",
    "EnEnSampler",
    "ExamplePool",
    "HybridSampler",
    "XXMonoSampler",
    "XXSampler",
    "XYSampler",
    "dataset_probabilities",
    "make_sampler",
    "shard",
    "summarise",
]
