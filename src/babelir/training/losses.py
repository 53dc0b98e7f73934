"""The training loss: InfoNCE, plus two optional terms that tie the student to the frozen
untuned model (the teacher), against forgetting and against language bias.

    L = L_InfoNCE(q, p)                                                (sentence-transformers)
        + beta  * mean_{x in batch} (1 - cos(s(x), t(x)))                 embedding distillation
        + gamma * mean_{(x_en, x_l)} (1 - cos(s(x_l), t(x_en)))           parallel-sentence KD

``s`` is the student, ``t`` the teacher (a frozen copy of the starting model, dropout off).

- **Embedding distillation** (``distill_weight`` = beta; EmbedDistill, Kim et al. 2023): every
  query and passage of the batch keeps its embedding near the one the untuned model gives it,
  so what fine-tuning changes is the geometry the contrastive loss asks for, not the rest.
- **Multilingual knowledge distillation** (``parallel_weight`` = gamma; Reimers & Gurevych
  2020): a translation's student embedding must equal the teacher's embedding of the English
  source. It pulls every language onto the teacher's English space: language offsets go,
  English stays where it was. The sentences are XNLI premises of the build-pairs train split
  (``babelir.models.centre.xnli_parallel_sentences``: never the ``xnli-val`` pool), drawn per
  step from a seeded generator (step-keyed, so a resumed run draws the same ones), each in one
  random non-English language, with the query or the passage prefix at random.

The distance is sentence-transformers' ``EmbedDistillLoss`` (cosine): the library's term,
combined here with ``MultipleNegativesRankingLoss.compute_loss_from_embeddings`` so the student
encodes each batch once. With both weights 0 the loss is the plain InfoNCE module and no
teacher is loaded.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from babelir.errors import BabelirError


@dataclass
class ParallelSentences:
    """Parallel sentences, row i the same sentence in every column language."""

    languages: tuple[str, ...]
    table: np.ndarray  # object (n, len(languages))
    source: str = "en"

    def batch(self, step: int, size: int, seed: int) -> tuple[list[str], list[str], list[int]]:
        """(sources, translations, prefix side per pair: 0 query, 1 passage) of one step."""
        rng = np.random.default_rng([seed, 7919, step])
        rows = rng.choice(len(self.table), size=min(size, len(self.table)), replace=False)
        targets = [j for j, lang in enumerate(self.languages) if lang != self.source]
        cols = rng.choice(targets, size=len(rows))
        sides = rng.integers(0, 2, size=len(rows))
        src = self.languages.index(self.source)
        return ([self.table[r, src] for r in rows], [self.table[r, c] for r, c in zip(rows, cols)],
                [int(s) for s in sides])

    @classmethod
    def from_xnli(cls, data_dir, n: int, seed: int,
                  languages: list[str] | None = None) -> "ParallelSentences":
        from babelir.models.centre import xnli_parallel_sentences

        wanted = sorted(set(languages) | {"en"}) if languages else None
        sentences = xnli_parallel_sentences(data_dir, n, seed, wanted)
        names = tuple(sorted(sentences))
        if len(names) < 2:
            raise BabelirError("parallel distillation needs XNLI in English and another language")
        table = np.array([sentences[lang] for lang in names], dtype=object).T
        return cls(names, table)


def frozen_teacher(model):
    """A frozen copy of the model, in eval mode (dropout off)."""
    teacher = copy.deepcopy(model)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


class AnchoredLoss(nn.Module):
    """InfoNCE + beta * embedding distillation + gamma * parallel KD (module docstring)."""

    def __init__(self, contrastive, teacher, distill_weight: float, parallel_weight: float):
        super().__init__()
        from sentence_transformers.sentence_transformer.losses import EmbedDistillLoss

        self.contrastive = contrastive
        self.model = contrastive.model
        self.teacher = teacher
        self.distance = EmbedDistillLoss(self.model, distance_metric="cosine")
        self.distill_weight = distill_weight
        self.parallel_weight = parallel_weight
        self.parts: dict[str, float] = {}

    def _teach(self, features_list) -> list[torch.Tensor]:
        with torch.no_grad():
            return [self.teacher(dict(f))["sentence_embedding"] for f in features_list]

    def forward(self, sentence_features, labels=None, parallel=None) -> torch.Tensor:
        from sentence_transformers.base.losses.merged_forward import embed_columns

        features = list(sentence_features)
        teacher = self._teach(features) if self.distill_weight else None
        embeddings = embed_columns(self.model, features)
        loss = self.contrastive.compute_loss_from_embeddings(embeddings, labels)
        self.parts = {"contrastive": float(loss.detach())}
        if teacher is not None:
            distill = self.distance.compute_loss_from_embeddings(embeddings, teacher)
            self.parts["distill"] = float(distill.detach())
            loss = loss + self.distill_weight * distill
        if parallel is not None and self.parallel_weight:
            sources, translations = parallel
            target = self._teach([sources])
            student = [self.model(dict(translations))["sentence_embedding"]]
            kd = self.distance.compute_loss_from_embeddings(student, target)
            self.parts["parallel"] = float(kd.detach())
            loss = loss + self.parallel_weight * kd
        return loss
