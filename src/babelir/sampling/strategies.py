"""Batch-composition strategies: which (example, query language, passage language) triples
share a training batch.

Rules, exactly (n = batch size; "both in l" = the example has a question AND a passage in l):

* Every batch is drawn from ONE dataset. Among the datasets eligible for the strategy, dataset
  d is chosen with probability proportional to ``usable(d) ** (1 / temperature)``
  (temperature 1: proportional to size; larger: flatter). ``usable(d)`` is the strategy's
  count of usable examples of d, defined below.
* The n examples of a batch are distinct, drawn uniformly without replacement from the
  candidates below, so no translation of a positive is ever an in-batch negative.
* ``xx-mono`` (X-X-mono): a (dataset, language) group is the examples of the dataset that
  are both in the language; it is eligible when it holds at least n examples. The language
  is drawn uniformly among the dataset's eligible languages, then n examples of its group;
  query and passage are both in that language. ``usable(d)`` = examples of d that are both
  in at least one eligible language.
* ``en-en``: ``xx-mono`` restricted to English.
* ``xy`` (X-Y): an example is usable when it has a question in some language q and a passage
  in some language p != q. Per example, q is drawn uniformly among its question languages
  that leave some other passage language, then p uniformly among its passage languages
  other than q. ``usable(d)`` = usable examples of d; d is eligible when that is >= n.
* ``xx`` (LAReQA X-X): an example is usable when it is both in some language; per example,
  one such language is drawn uniformly and used for query and passage (so languages mix
  within a batch, but each pair is monolingual). Eligibility as for ``xy``.
* ``hybrid(alpha)``: each batch is an ``xx-mono`` batch with probability alpha, else an
  ``xy`` batch (each part chooses its dataset with its own usable counts). alpha = 1 gives
  exactly the ``xx-mono`` batches (same seed, same batches), alpha = 0 exactly the ``xy`` ones.
* A dataset (or, for ``xx-mono``, a language of a dataset) with fewer than n candidates is
  not eligible. If nothing is eligible, the constructor raises a BabelirError naming the
  strategy, the batch size and the largest count available — before any training step.

Determinism and resumability by construction: batch ``step`` is drawn only from
``np.random.default_rng([seed, step])`` (the hybrid's coin from ``[seed, step, 1]``), an
independent stream per step. A run resumed at step k therefore gets exactly the batches of
an unbroken run, whatever happened before k; ``state_dict`` only needs (seed, next step),
plus the configuration and a fingerprint of the pool, which are checked on load.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from babelir.errors import BabelirError
from babelir.sampling.batch import Batch
from babelir.sampling.pool import ExamplePool

_WORD = 2**32  # seed and step are single 32-bit words of the SeedSequence entropy


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise BabelirError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value >= high):
        bound = f"at least {low}" if high is None else f"in [{low}, {high})"
        raise BabelirError(f"{name} must be {bound}, got {value}")
    return int(value)


def _check_float(name: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BabelirError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise BabelirError(f"{name} must be a finite number, got {value!r}")
    return number


def _check_temperature(value: object) -> float:
    temperature = _check_float("temperature", value)
    if temperature <= 0:
        raise BabelirError(f"temperature must be > 0, got {value!r}")
    return temperature


def _check_alpha(value: object) -> float:
    alpha = _check_float("alpha", value)
    if not 0.0 <= alpha <= 1.0:
        raise BabelirError(f"alpha (the probability of an X-X-mono batch) must be in [0, 1], "
                           f"got {value!r}")
    return alpha


def dataset_probabilities(counts: Sequence[int], temperature: float) -> np.ndarray:
    """``counts ** (1 / temperature)``, normalised (computed in log space: no overflow)."""
    logs = np.log(np.asarray(counts, dtype=np.float64)) / temperature
    weights = np.exp(logs - logs.max())
    return weights / weights.sum()


def _pick_true(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Per row of a boolean matrix (each row with a True), the column of one True, uniformly."""
    k = rng.integers(0, mask.sum(axis=1))
    return (np.cumsum(mask, axis=1) > k[:, None]).argmax(axis=1)


@dataclass(frozen=True)
class _DatasetChoice:
    """The datasets eligible for a strategy, their usable counts and probabilities."""

    names: tuple[str, ...]
    counts: tuple[int, ...]
    probabilities: np.ndarray

    def draw(self, rng: np.random.Generator) -> int:
        return int(rng.choice(len(self.names), p=self.probabilities))


def _nothing_eligible(strategy: str, batch_size: int, needs: str, largest: int,
                      where: str) -> BabelirError:
    at = f" ({where})" if largest else ""
    return BabelirError(
        f"strategy {strategy!r} cannot form a batch of batch_size={batch_size}: it needs "
        f"{batch_size} distinct examples {needs}, and the largest available count is "
        f"{largest}{at}. Lower the batch size or add data.")


class BatchSampler(ABC):
    """Base of all strategies: batch ``step`` is a pure function of (seed, step)."""

    strategy: ClassVar[str]
    _choice: _DatasetChoice  # set by each concrete strategy's constructor

    def __init__(self, pool: ExamplePool, batch_size: int, seed: int,
                 temperature: float = 1.0):
        if not isinstance(pool, ExamplePool):
            raise BabelirError(f"pool must be an ExamplePool, got {type(pool).__name__}")
        self.pool = pool
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.seed = _check_int("seed", seed, 0, _WORD)
        self.temperature = _check_temperature(temperature)
        self._next_step = 0

    def batch(self, step: int) -> Batch:
        """Batch number ``step`` (0-based); depends on nothing but seed, step and the pool."""
        step = _check_int("step", step, 0, _WORD)
        return self._draw(np.random.default_rng([self.seed, step]), step)

    @abstractmethod
    def _draw(self, rng: np.random.Generator, step: int) -> Batch:
        """The batch for ``step``, using only ``rng``."""

    def batches(self, start_step: int | None = None) -> Iterator[Batch]:
        """Batches ``start_step``, ``start_step + 1``, … without end. ``None`` (default)
        starts at the next step: 0 for a fresh sampler, the checkpointed step after
        ``load_state_dict``. Each yielded batch counts as consumed for ``state_dict``."""
        step = self._next_step if start_step is None else _check_int("start_step", start_step, 0)
        while True:
            batch = self.batch(step)
            step += 1
            self._next_step = step
            yield batch

    def __iter__(self) -> Iterator[Batch]:
        return self.batches()

    @property
    def next_step(self) -> int:
        return self._next_step

    def config(self) -> dict:
        """What must be equal for a checkpoint to resume this sampler's batch sequence."""
        return {"strategy": self.strategy, "batch_size": self.batch_size,
                "temperature": self.temperature, "pool": self.pool.fingerprint()}

    def state_dict(self) -> dict:
        return {**self.config(), "seed": self.seed, "next_step": self._next_step}

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Resume from ``state_dict()``: the following ``batches()`` continue exactly where
        the checkpointed run was. BabelirError when the checkpoint was written with another
        strategy, batch size, temperature, alpha or pool."""
        for key, value in self.config().items():
            if key not in state:
                raise BabelirError(f"sampler checkpoint lacks {key!r}")
            if state[key] != value:
                raise BabelirError(f"sampler checkpoint does not match this run: {key} is "
                                   f"{state[key]!r} in the checkpoint but {value!r} here")
        self.seed = _check_int("seed", state.get("seed"), 0, _WORD)
        self._next_step = _check_int("next_step", state.get("next_step"), 0)

    def describe(self) -> dict:
        """The eligible datasets with their usable counts and probabilities (for run logs)."""
        choice = self._choice
        return {"strategy": self.strategy, "batch_size": self.batch_size,
                "temperature": self.temperature,
                "datasets": {name: {"usable_examples": count, "probability": float(prob)}
                             for name, count, prob in zip(choice.names, choice.counts,
                                                          choice.probabilities)}}

    @property
    def dataset_probabilities(self) -> dict[str, float]:
        choice = self._choice
        return dict(zip(choice.names, choice.probabilities.tolist()))

    def _make_choice(self, names: list[str], counts: list[int]) -> _DatasetChoice:
        return _DatasetChoice(tuple(names), tuple(counts),
                              dataset_probabilities(counts, self.temperature))


class XXMonoSampler(BatchSampler):
    """X-X-mono: every batch in one language (uniform over the dataset's eligible ones)."""

    strategy = "xx-mono"

    def __init__(self, pool: ExamplePool, batch_size: int, seed: int,
                 temperature: float = 1.0, languages: Sequence[str] | None = None):
        super().__init__(pool, batch_size, seed, temperature)
        columns = self._columns(languages)
        both = pool.has_question & pool.has_passage
        names, counts, self._groups = [], [], []
        largest, where = 0, ""
        for d, name in enumerate(pool.dataset_names):
            if name in pool.cross_only_datasets:
                continue
            in_dataset = pool.dataset_index == d
            groups = []
            for j in columns:
                members = np.flatnonzero(in_dataset & both[:, j])
                if len(members) > largest:
                    largest = len(members)
                    where = f"dataset {name!r}, language {pool.languages[j]!r}"
                if len(members) >= self.batch_size:
                    groups.append((j, members))
            if groups:
                names.append(name)
                counts.append(int((in_dataset & both[:, [j for j, _ in groups]].any(axis=1)).sum()))
                self._groups.append(groups)
        if not names:
            among = "" if languages is None else f" (of: {', '.join(languages)})"
            raise _nothing_eligible(self.strategy, self.batch_size,
                                    f"with a question and a passage in one language{among}",
                                    largest, where)
        self._choice = self._make_choice(names, counts)

    def _columns(self, languages: Sequence[str] | None) -> list[int]:
        if languages is None:
            return list(range(len(self.pool.languages)))
        try:
            return [self.pool.lang_index(lang) for lang in languages]
        except BabelirError as error:
            raise BabelirError(f"strategy {self.strategy!r}: {error}") from None

    def _draw(self, rng: np.random.Generator, step: int) -> Batch:
        d = self._choice.draw(rng)
        groups = self._groups[d]
        j, members = groups[rng.integers(len(groups))]
        examples = rng.choice(members, size=self.batch_size, replace=False)
        lang = np.full(self.batch_size, j, dtype=np.int64)
        return Batch(example_idx=examples, query_lang=lang, passage_lang=lang.copy(),
                     kind="mono", dataset=self._choice.names[d],
                     languages=self.pool.languages, lang=self.pool.languages[j], step=step)

    def describe(self) -> dict:
        out = super().describe()
        for name, groups in zip(self._choice.names, self._groups):
            out["datasets"][name]["languages"] = [self.pool.languages[j] for j, _ in groups]
        return out


class EnEnSampler(XXMonoSampler):
    """En-En: X-X-mono restricted to English (query and passage in ``lang``)."""

    strategy = "en-en"

    def __init__(self, pool: ExamplePool, batch_size: int, seed: int,
                 temperature: float = 1.0, lang: str = "en"):
        super().__init__(pool, batch_size, seed, temperature, languages=(lang,))


class _PerExampleSampler(BatchSampler):
    """Strategies that draw the examples first, then languages per example."""

    kind: ClassVar[str]
    needs: ClassVar[str]  # what makes an example usable, for error messages

    def __init__(self, pool: ExamplePool, batch_size: int, seed: int, temperature: float = 1.0):
        super().__init__(pool, batch_size, seed, temperature)
        usable = self._usable(pool.has_question, pool.has_passage)
        names, counts, self._members = [], [], []
        largest, where = 0, ""
        for d, name in enumerate(pool.dataset_names):
            if self.kind != "cross" and name in pool.cross_only_datasets:
                continue
            members = np.flatnonzero(usable & (pool.dataset_index == d))
            if len(members) > largest:
                largest, where = len(members), f"dataset {name!r}"
            if len(members) >= self.batch_size:
                names.append(name)
                counts.append(len(members))
                self._members.append(members)
        if not names:
            raise _nothing_eligible(self.strategy, self.batch_size, self.needs, largest, where)
        self._choice = self._make_choice(names, counts)

    @staticmethod
    @abstractmethod
    def _usable(has_q: np.ndarray, has_p: np.ndarray) -> np.ndarray:
        """(n,) bool: the examples this strategy can use."""

    @staticmethod
    @abstractmethod
    def _languages(rng: np.random.Generator, has_q: np.ndarray,
                   has_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Query and passage language per row of the (usable) examples' availability."""

    def _draw(self, rng: np.random.Generator, step: int) -> Batch:
        d = self._choice.draw(rng)
        examples = rng.choice(self._members[d], size=self.batch_size, replace=False)
        q, p = self._languages(rng, self.pool.has_question[examples],
                               self.pool.has_passage[examples])
        return Batch(example_idx=examples, query_lang=q, passage_lang=p, kind=self.kind,
                     dataset=self._choice.names[d], languages=self.pool.languages, step=step)


def _xy_question_options(has_q: np.ndarray, has_p: np.ndarray) -> np.ndarray:
    """Question languages that leave at least one passage in another language."""
    passages = has_p.astype(np.int64)
    return has_q & (passages.sum(axis=1, keepdims=True) - passages >= 1)


class XYSampler(_PerExampleSampler):
    """X-Y: query and passage of every pair in different languages."""

    strategy = "xy"
    kind = "cross"
    needs = "with a question and a passage in different languages"

    @staticmethod
    def _usable(has_q: np.ndarray, has_p: np.ndarray) -> np.ndarray:
        return _xy_question_options(has_q, has_p).any(axis=1)

    @staticmethod
    def _languages(rng, has_q, has_p):
        q = _pick_true(rng, _xy_question_options(has_q, has_p))
        other_passages = has_p.copy()
        other_passages[np.arange(len(q)), q] = False
        return q, _pick_true(rng, other_passages)


def _same_language(rng, has_q: np.ndarray, has_p: np.ndarray):
    """(question, passage) languages: one language with both, per example."""
    lang = _pick_true(rng, has_q & has_p)
    return lang, lang.copy()


class XXSampler(_PerExampleSampler):
    """LAReQA X-X: each pair in one language, languages mixed across the batch."""

    strategy, kind = "xx", "mixed"
    needs = "with a question and a passage in one language"
    _languages = staticmethod(_same_language)

    @staticmethod
    def _usable(has_q: np.ndarray, has_p: np.ndarray) -> np.ndarray:
        return (has_q & has_p).any(axis=1)


class HybridSampler(BatchSampler):
    """With probability alpha an X-X-mono batch, else an X-Y batch (per step)."""

    strategy = "hybrid"

    def __init__(self, pool: ExamplePool, batch_size: int, seed: int, alpha: float = 0.5,
                 temperature: float = 1.0):
        super().__init__(pool, batch_size, seed, temperature)
        self.alpha = _check_alpha(alpha)
        self.mono = self._part(XXMonoSampler, "X-X-mono") if self.alpha > 0 else None
        self.cross = self._part(XYSampler, "X-Y") if self.alpha < 1 else None

    def _part(self, cls: type[BatchSampler], label: str) -> BatchSampler:
        try:
            return cls(self.pool, self.batch_size, self.seed, temperature=self.temperature)
        except BabelirError as error:
            raise BabelirError(f"strategy 'hybrid' (alpha={self.alpha}) needs {label} "
                               f"batches, but: {error}") from None

    def _draw(self, rng: np.random.Generator, step: int) -> Batch:
        coin = np.random.default_rng([self.seed, step, 1]).random()
        part = self.mono if coin < self.alpha else self.cross
        return part._draw(rng, step)  # type: ignore[union-attr]

    def config(self) -> dict:
        return {**super().config(), "alpha": self.alpha}

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        super().load_state_dict(state)
        for part in (self.mono, self.cross):
            if part is not None:
                part.seed = self.seed

    def describe(self) -> dict:
        parts = {p.strategy: p.describe() for p in (self.mono, self.cross) if p is not None}
        return {"strategy": self.strategy, "alpha": self.alpha, "batch_size": self.batch_size,
                "temperature": self.temperature, "parts": parts}

    @property
    def dataset_probabilities(self) -> dict[str, float]:
        """Overall probability of each dataset: the parts' choices mixed by alpha."""
        out: dict[str, float] = {}
        for part, weight in ((self.mono, self.alpha), (self.cross, 1 - self.alpha)):
            if part is not None:
                for name, prob in part.dataset_probabilities.items():
                    out[name] = out.get(name, 0.0) + weight * prob
        return out


SAMPLERS: dict[str, type[BatchSampler]] = {
    "xx-mono": XXMonoSampler, "xy": XYSampler, "hybrid": HybridSampler,
    "xx": XXSampler, "en-en": EnEnSampler,
}
STRATEGIES = tuple(SAMPLERS)


def make_sampler(strategy: str, pool: ExamplePool, batch_size: int, seed: int,
                 alpha: float = 0.5, temperature: float = 1.0) -> BatchSampler:
    """The sampler of a strategy by name (``alpha`` is used by "hybrid" only)."""
    if strategy not in SAMPLERS:
        raise BabelirError(f"unknown sampling strategy {strategy!r}; valid: "
                           f"{', '.join(STRATEGIES)}")
    if strategy == "hybrid":
        return HybridSampler(pool, batch_size, seed, alpha=alpha, temperature=temperature)
    return SAMPLERS[strategy](pool, batch_size, seed, temperature=temperature)
