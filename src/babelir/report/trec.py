"""TREC run and qrels files, so trec_eval / ranx / ir_measures users can re-score a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def write_run(path: Path, scores: np.ndarray, query_ids: list[str], doc_ids: list[str],
              tag: str, depth: int = 100) -> None:
    """``qid Q0 docid rank score tag``: the top ``depth`` candidates of every query."""
    top = torch.topk(torch.as_tensor(scores), min(depth, scores.shape[1]), dim=1)
    write_top_run(path, top.values.numpy(), top.indices.numpy(), query_ids, doc_ids, tag)


def write_top_run(path: Path, values: np.ndarray, indices: np.ndarray, query_ids: list[str],
                  doc_ids: list[str], tag: str) -> None:
    """``write_run`` from each query's top candidates already found: ``values[q, r]`` and
    ``indices[q, r]`` are the score and the column of the candidate at rank ``r + 1``; a
    column ``-1`` (no candidate, as a top-k search pads) is left out, the ranks counting the
    candidates written."""
    with open(path, "w", encoding="utf-8") as fh:
        for q, qid in enumerate(query_ids):
            found = np.flatnonzero(indices[q] >= 0)
            for rank, r in enumerate(found, 1):
                fh.write(f"{qid} Q0 {doc_ids[indices[q, r]]} {rank} {values[q, r]:.6f} {tag}\n")


def write_qrels(path: Path, relevant: np.ndarray, query_ids: list[str],
                doc_ids: list[str]) -> None:
    """``qid 0 docid 1`` for every relevant candidate (``relevant`` is PAD(-1)-padded)."""
    with open(path, "w", encoding="utf-8") as fh:
        for q, qid in enumerate(query_ids):
            for d in relevant[q]:
                if d >= 0:
                    fh.write(f"{qid} 0 {doc_ids[d]} 1\n")
