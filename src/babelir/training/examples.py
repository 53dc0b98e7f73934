"""Training examples as the sampler and the loss see them: a pool of language versions and
the texts of every (example, language)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from babelir.errors import BabelirError
from babelir.sampling import Batch, ExamplePool


@dataclass
class TrainingTexts:
    """Questions, positives (and mined negatives) indexed [example, language]."""

    pool: ExamplePool
    questions: np.ndarray  # object (n_examples, n_languages), None where absent
    passages: np.ndarray
    negatives: np.ndarray | None

    @classmethod
    def from_pairs(cls, pairs: pd.DataFrame, with_negatives: bool = False) -> "TrainingTexts":
        if with_negatives and "negative" not in pairs.columns:
            raise BabelirError("hard_negatives is on but the pairs have no `negative` column: "
                               "run `babelir data mine-negatives` first")
        from babelir.data.pairs import TRANSLATION_DATASETS

        records = pairs[["example_id", "dataset", "lang", "question", "passage"]].to_dict("records")
        pool = ExamplePool.from_records(records, cross_only_datasets=TRANSLATION_DATASETS)
        index = {eid: i for i, eid in enumerate(pool.example_ids)}
        rows = pairs["example_id"].map(index).to_numpy()
        cols = pairs["lang"].map({l: j for j, l in enumerate(pool.languages)}).to_numpy()
        shape = (len(pool.example_ids), len(pool.languages))

        def grid(column: str) -> np.ndarray:
            out = np.full(shape, None, dtype=object)
            out[rows, cols] = pairs[column].to_numpy(dtype=object)
            return out

        return cls(pool, grid("question"), grid("passage"),
                   grid("negative") if with_negatives else None)

    def batch_texts(self, batch: Batch) -> tuple[list[str], list[str], list[str] | None]:
        """(queries, positives, negatives or None) of a batch, unprefixed."""
        queries = self.questions[batch.example_idx, batch.query_lang].tolist()
        positives = self.passages[batch.example_idx, batch.passage_lang].tolist()
        negatives = None
        if self.negatives is not None:
            found = self.negatives[batch.example_idx, batch.passage_lang]
            # an example without a mined negative falls back to another example's positive
            negatives = [n if isinstance(n, str) and n else positives[(i + 1) % len(positives)]
                         for i, n in enumerate(found.tolist())]
        return queries, positives, negatives
