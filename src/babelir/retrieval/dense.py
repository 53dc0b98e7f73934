"""Dense retrieval: encode with a sentence-transformers model, score by exact inner product.

Embeddings are L2-normalised, so the inner product is the cosine. Encoding is cached on disk,
keyed by the model's fingerprint, the encoding settings and the exact texts, so a re-run of the
same evaluation skips the model entirely (it is not even loaded).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from babelir.errors import BabelirError
from babelir.io import write_npy
from babelir.models.registry import ModelChoice


def _files_signature(folder: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size, int(p.stat().st_mtime))
                  for p in folder.rglob("*") if p.is_file())


def model_fingerprint(location: str) -> str:
    """A key that changes when the model changes: file names/sizes/mtimes of a local folder,
    the Hub snapshot folder when the id is in the local HF cache, else the id itself."""
    folder = Path(location)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(location, local_files_only=True))
        except Exception:  # not cached locally: the id is all we know
            return hashlib.sha256(location.encode()).hexdigest()[:16]
    payload = json.dumps(_files_signature(folder))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class EmbeddingCache:
    """``<root>/<model fingerprint>/<sha256 of settings and texts>.npy``."""

    root: Path

    def path(self, fingerprint: str, settings: dict, texts: list[str]) -> Path:
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
        for text in texts:
            digest.update(text.encode("utf-8"))
            digest.update(b"\x00")
        return self.root / fingerprint / f"{digest.hexdigest()}.npy"


class DenseEncoder:
    """A shared bi-encoder: one sentence-transformers model for queries and passages."""

    def __init__(self, model: ModelChoice, max_length: int = 128, batch_size: int = 64,
                 device: str | None = None, cache: EmbeddingCache | None = None):
        self.model = model
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.cache = cache
        self.fingerprint = model_fingerprint(model.location)
        self._st = None

    @property
    def sentence_transformer(self):
        """The loaded model (loaded on first use only)."""
        if self._st is None:
            from sentence_transformers import SentenceTransformer

            try:
                self._st = SentenceTransformer(self.model.location, device=self.device)
            except (OSError, ValueError) as exc:
                raise BabelirError(
                    f"could not load model {self.model.location!r}: not a local folder, and not "
                    f"loadable from the Hugging Face Hub (offline?): {exc}") from exc
            self._st.max_seq_length = self.max_length
        return self._st

    def _settings(self, prefix: str) -> dict:
        return {"prefix": prefix, "max_length": self.max_length, "normalize": True}

    def encode(self, texts: list[str], kind: str, desc: str | None = None) -> np.ndarray:
        """L2-normalised float32 embeddings of ``texts`` (kind: "query" or "passage")."""
        prefix = self.model.query_prefix if kind == "query" else self.model.passage_prefix
        path = self.cache.path(self.fingerprint, self._settings(prefix), texts) if self.cache else None
        if path is not None and path.is_file():
            return np.load(path)
        if desc:
            print(f"encoding {desc}: {len(texts)} texts", flush=True)
        # sentence-transformers sorts the texts by length into batches and restores the order
        embeddings = self.sentence_transformer.encode(
            [prefix + t for t in texts], batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=bool(desc),
        ).astype(np.float32)
        if path is not None:
            write_npy(path, embeddings)
        return embeddings


def encode_by_group(encoder: DenseEncoder, texts: list[str], groups: np.ndarray,
                    names: tuple[str, ...], kind: str) -> np.ndarray:
    """Encode texts one group (language) at a time, so each group is cached on its own."""
    out = None
    for g, name in enumerate(names):
        rows = np.flatnonzero(groups == g)
        emb = encoder.encode([texts[i] for i in rows], kind, desc=f"{kind} {name}")
        if out is None:
            out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
        out[rows] = emb
    return out


def inner_product_scores(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Exact search: the full (n_queries, n_candidates) matrix of inner products."""
    return (torch.from_numpy(queries) @ torch.from_numpy(candidates).T).contiguous().numpy()
