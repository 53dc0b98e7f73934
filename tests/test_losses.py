"""The anchored loss (training/losses.py): InfoNCE + embedding distillation + parallel KD,
checked against sentence-transformers' own modules and encode(); a tiny training run with
both terms resumes exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from babelir.errors import BabelirError
from babelir.models.tiny import build_tiny_model
from babelir.settings import cache_dir
from babelir.training.config import load_config
from babelir.training.losses import AnchoredLoss, ParallelSentences, frozen_teacher
from babelir.training.batches import features
from babelir.training.run import train


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", cache_dir())


QUERIES = ["query: Wer schrieb den Steppenwolf?", "query: ¿Quién escribió Rayuela?"]
PASSAGES = ["passage: Hermann Hesse schrieb den Steppenwolf.", "passage: Cortázar escribió."]


def _loss(model, beta, gamma):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    mnrl = MultipleNegativesRankingLoss(model, scale=20.0)
    return mnrl, AnchoredLoss(mnrl, frozen_teacher(model), beta, gamma)


def test_distillation_is_zero_before_training_and_kd_matches_encode(tiny_model):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model), device="cpu")
    model.eval()
    mnrl, anchored = _loss(model, 0.7, 0.3)
    batch = [features(model, QUERIES, "", "cpu"), features(model, PASSAGES, "", "cpu")]
    plain = float(mnrl([dict(f) for f in batch], None).detach())
    sources = ["query: The cat sleeps.", "passage: It rains today."]
    translations = ["query: Die Katze schläft.", "passage: Hoy llueve."]
    parallel = (features(model, sources, "", "cpu"), features(model, translations, "", "cpu"))
    total = float(anchored(batch, None, parallel=parallel))
    assert anchored.parts["distill"] == pytest.approx(0.0, abs=1e-6)  # student == teacher
    s = model.encode(translations, normalize_embeddings=True)
    t = model.encode(sources, normalize_embeddings=True)
    kd = float(np.mean(1.0 - np.sum(s * t, axis=1)))
    assert anchored.parts["parallel"] == pytest.approx(kd, abs=1e-5)
    assert anchored.parts["contrastive"] == pytest.approx(plain, abs=1e-5)
    assert total == pytest.approx(plain + 0.3 * kd, abs=1e-5)


def test_teacher_stays_frozen(tiny_model):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model), device="cpu")
    _, anchored = _loss(model, 1.0, 0.0)
    assert not any(p.requires_grad for p in anchored.teacher.parameters())
    before = {k: v.clone() for k, v in anchored.teacher.state_dict().items()}
    batch = [features(model, QUERIES, "", "cpu"), features(model, PASSAGES, "", "cpu")]
    anchored(batch, None).backward()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    after = anchored.teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    key = next(k for k in model.state_dict() if k.endswith("query.weight"))
    assert not torch.equal(model.state_dict()[key], after[key])


def test_parallel_batches(data_dir):
    parallel = ParallelSentences.from_xnli(data_dir, 50, seed=0, languages=["de", "zh"])
    assert parallel.languages == ("de", "en", "zh")
    a, b = parallel.batch(3, 8, 0), parallel.batch(3, 8, 0)
    assert a == b and parallel.batch(4, 8, 0) != a  # keyed by step: resume draws the same
    sources, translations, sides = a
    english = set(parallel.table[:, 1])
    assert all(s in english for s in sources) and len(set(sources)) == 8
    assert not any(t in english for t in translations) and set(sides) <= {0, 1}


def test_training_with_both_terms_resumes_exactly(tiny_model, pairs_file, data_dir, tmp_path):
    def config(out, **extra):
        return load_config(None, dict(
            pairs=str(pairs_file), out=str(out), model=str(tiny_model), batch_size=8, steps=4,
            eval_every=2, save_every=2, dev_batches=1, max_length=32, learning_rate=1e-3,
            data_dir=str(data_dir), device="cpu", select_best=False, distill_weight=0.5,
            parallel_weight=0.5, parallel_batch_size=4, parallel_sentences=40,
            select_on="dev_loss", merge=1.0, **extra))

    straight = train(config(tmp_path / "a"))
    train(config(tmp_path / "b", stop_after=2))
    resumed = train(config(tmp_path / "b"), resume=True)
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(x) for x in (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()]
    assert all(set(r["parts"]) == {"contrastive", "distill", "parallel"} for r in log)
    first = log[0]["parts"]
    assert 0.0 < first["distill"] < 0.05  # the student's dropout only: it starts as the teacher
    total = first["contrastive"] + 0.5 * first["distill"] + 0.5 * first["parallel"]
    assert log[0]["loss"] == pytest.approx(total, abs=1e-4)


def test_cached_loss_with_teacher_terms_is_refused(pairs_file, tmp_path):
    with pytest.raises(BabelirError, match="cached_loss"):
        load_config(None, dict(pairs=str(pairs_file), out=str(tmp_path), cached_loss=True,
                               distill_weight=0.1))
    with pytest.raises(BabelirError, match="parallel_weight"):
        load_config(None, dict(pairs=str(pairs_file), out=str(tmp_path), parallel_weight=-1.0))
