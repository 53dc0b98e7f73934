"""Dense retrieval: encode with a sentence-transformers model, score by exact inner product
(``DenseEncoder``, and ``DenseRetriever``, the ``dense`` retriever of ``retrieval.registry``).

Embeddings are L2-normalised, so the inner product is the cosine. Encoding is cached on disk,
keyed by the model's fingerprint, the encoding settings (precision and backend included: an int8
vector is not an fp32 vector) and the exact texts, so a re-run of the same evaluation skips the
model entirely (it is not even loaded).

Precision and backend (``--precision``, ``--backend``; measured in ``benchmarks/bench_encode.py``):

- ``fp32`` / ``onnx``: the transformer exported to ONNX with fused attention, run by ONNX Runtime
  on the CPU; the same embeddings as PyTorch, faster (the default on a CPU when onnxruntime is
  installed);
- ``fp32`` / ``torch``: sentence-transformers' own ``encode`` (the default on CUDA);
- ``int8`` / ``onnx``: the same graph with dynamic int8 quantisation (fastest, but moves mAP);
- ``bf16`` / ``torch``: PyTorch autocast to bfloat16 (fast only on CPUs with bf16 instructions
  — AVX512_BF16 or AMX — and on GPUs).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from babelir.data.validate import read_npy
from babelir.errors import BabelirError, DataError
from babelir.io import MARKER, write_npy
from babelir.models.registry import ModelChoice
from babelir.retrieval.base import (ENCODING_OPTIONS, CandidateIndex, InnerProductBlocks,
                                    Retriever, TextSet, portable_path, setting, top_k_blocks)
from babelir.retrieval.centring import LanguageCentring, centre, is_centring_file


def _files_signature(folder: Path) -> list[tuple[str, int, int]]:
    # left out: the centring files (applied after the cache) and babelir's output marker, so
    # a centred copy of a model (``babelir centre``) shares the model's embedding cache
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in folder.rglob("*")
                  if p.is_file() and not is_centring_file(p.name) and p.name != MARKER)


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


PRECISIONS = ("fp32", "bf16", "int8")
BACKENDS = ("auto", "torch", "onnx")
ONNX_PRECISIONS = ("fp32", "int8")
DEFAULT_PRECISION = "fp32"


def resolve_backend(backend: str, precision: str, device: str) -> str:
    """The backend that runs ``precision`` on ``device`` ('auto': ONNX Runtime on a CPU)."""
    from babelir.retrieval.onnx_encoder import onnx_runtime_version

    if precision not in PRECISIONS:
        raise BabelirError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if backend not in BACKENDS:
        raise BabelirError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "auto":
        onnx_fits = (device == "cpu" and precision in ONNX_PRECISIONS
                     and onnx_runtime_version() is not None)
        backend = "onnx" if onnx_fits or precision == "int8" else "torch"
    if backend == "onnx" and (precision not in ONNX_PRECISIONS or device != "cpu"):
        raise BabelirError(f"the ONNX backend runs {'/'.join(ONNX_PRECISIONS)} on the CPU, "
                           f"not {precision} on {device}")
    if backend == "torch" and precision == "int8":
        raise BabelirError("int8 runs on the ONNX backend (--backend onnx)")
    return backend


def add_encoding_options(p, batch_size: int = 32, unset: bool = False) -> None:
    """--precision, --backend, --batch-size: how a dense model encodes (retrieval/dense.py).
    ``unset``: the options default to None (the caller tells given options from absent ones;
    the defaults the help names apply)."""
    p.add_argument("--precision", choices=PRECISIONS,
                   default=None if unset else DEFAULT_PRECISION,
                   help=f"dense encoding precision (default {DEFAULT_PRECISION}; int8 is faster "
                        "but moves mAP, bf16 is fast only with bf16 CPU instructions or a GPU)")
    p.add_argument("--backend", choices=BACKENDS, default=None if unset else "auto",
                   help="auto: ONNX Runtime on a CPU (fp32/int8), PyTorch otherwise")
    p.add_argument("--batch-size", type=int, default=None if unset else batch_size,
                   help=f"texts per encoding batch (default {batch_size})")


class DenseEncoder:
    """A shared bi-encoder: one sentence-transformers model for queries and passages."""

    def __init__(self, model: ModelChoice, max_length: int = 128, batch_size: int = 32,
                 device: str | None = None, cache: EmbeddingCache | None = None,
                 precision: str = DEFAULT_PRECISION, backend: str = "auto",
                 cache_root: Path | None = None):
        self.model = model
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.cache = cache
        self.precision = precision
        self.backend = resolve_backend(backend, precision, self.device)
        self.cache_root = cache_root or (cache.root.parent if cache else None)
        self.fingerprint = model_fingerprint(model.location)
        self._st = None
        self._onnx = None
        folder = Path(model.location)
        self.centring = LanguageCentring.load(folder) if folder.is_dir() else None

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
        settings = {"prefix": prefix, "max_length": self.max_length, "normalize": True}
        if (self.precision, self.backend) != ("fp32", "torch"):  # fp32/torch keeps its old keys
            settings.update(precision=self.precision, backend=self.backend)
        return settings

    @property
    def onnx_encoder(self):
        """The ONNX export of the model at this precision (exported on first use, then cached)."""
        if self._onnx is None:
            from babelir.retrieval.onnx_encoder import load_or_export
            from babelir.settings import cache_dir

            root = self.cache_root or cache_dir()
            self._onnx = load_or_export(lambda: self.sentence_transformer, root,
                                        self.fingerprint, self.precision)
            self._st = None  # loaded only to export: its memory goes back
        return self._onnx

    def _encode_prefixed(self, texts: list[str], progress: bool) -> np.ndarray:
        if self.backend == "onnx":
            return self.onnx_encoder.encode(texts, self.batch_size, self.max_length)
        # sentence-transformers sorts the texts by length into batches and restores the order
        autocast = torch.autocast(device_type=self.device.split(":")[0], dtype=torch.bfloat16,
                                  enabled=self.precision == "bf16")
        with autocast:
            embeddings = self.sentence_transformer.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_tensor=True, show_progress_bar=progress)
        return embeddings.float().cpu().numpy()

    def encode(self, texts: list[str], kind: str, desc: str | None = None,
               languages: str | list[str] | None = None) -> np.ndarray:
        """L2-normalised float32 embeddings of ``texts`` (kind: "query" or "passage").

        A model folder with per-language means (``babelir centre``) centres them, using
        ``languages`` (one for all texts, or one per text; identified when not given)."""
        return centre(self.centring, self._encode_raw(texts, kind, desc), kind, texts,
                      languages)

    def _encode_raw(self, texts: list[str], kind: str, desc: str | None) -> np.ndarray:
        prefix = self.model.query_prefix if kind == "query" else self.model.passage_prefix
        path = self.cache.path(self.fingerprint, self._settings(prefix), texts) if self.cache else None
        if path is not None and path.is_file():
            try:
                return read_npy(path, ndim=2, rows=len(texts))
            except DataError as exc:  # a damaged cache entry is a miss: encoded again, replaced
                print(f"warning: {exc}; encoding again", flush=True)
        if desc:
            print(f"encoding {desc}: {len(texts)} texts", flush=True)
        embeddings = self._encode_prefixed([prefix + t for t in texts], bool(desc))
        if path is not None:
            write_npy(path, embeddings)
        return embeddings


def encode_by_group(encoder: DenseEncoder, texts: list[str], groups: np.ndarray,
                    names: tuple[str, ...], kind: str) -> np.ndarray:
    """Encode texts one group (language) at a time, so each group is cached on its own."""
    out = None
    for g, name in enumerate(names):
        rows = np.flatnonzero(groups == g)
        emb = encoder.encode([texts[i] for i in rows], kind, desc=f"{kind} {name}", languages=name)
        if out is None:
            out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
        out[rows] = emb
    return out


def make_encoder(model: str, settings, embedding_cache: bool = False,
                 device: str | None = None) -> DenseEncoder:
    """The ``DenseEncoder`` of ``model`` with ``settings`` (``EvalConfig``-like keys: cache_dir,
    query_prefix, passage_prefix, max_length, batch_size, device, precision, backend);
    ``embedding_cache``: cache embeddings under ``<cache>/embeddings``; ``device``: used when
    the settings name none."""
    from babelir.models.registry import resolve_model
    from babelir.settings import cache_dir

    root = cache_dir(settings.get("cache_dir"))
    choice = resolve_model(model, root, settings.get("query_prefix"),
                           settings.get("passage_prefix"))
    return DenseEncoder(choice, setting(settings, "max_length", 128),
                        setting(settings, "batch_size", 32), settings.get("device") or device,
                        EmbeddingCache(root / "embeddings") if embedding_cache else None,
                        setting(settings, "precision", DEFAULT_PRECISION),
                        setting(settings, "backend", "auto"), root)


class DenseRetriever(Retriever):
    """A bi-encoder searched exhaustively: embeddings held in memory, exact inner products."""

    name = "dense"
    options = ENCODING_OPTIONS | {"embedding_cache"}
    description = "dense (sentence-transformers, exact inner product)"

    def __init__(self, encoder: DenseEncoder):
        self.encoder = encoder

    @classmethod
    def create(cls, model: str, settings) -> DenseRetriever:
        return cls(make_encoder(model, settings, setting(settings, "embedding_cache", True)))

    def encode(self, items: TextSet) -> np.ndarray:
        """Embeddings of ``items``, one group (language) at a time when there are groups."""
        if items.groups is None:
            return self.encoder.encode(items.texts, items.kind)
        return encode_by_group(self.encoder, items.texts, items.groups, items.names, items.kind)

    def index(self, candidates: TextSet) -> CandidateIndex:
        return EmbeddingIndex(self, self.encode(candidates))

    def describe(self) -> dict:
        encoder = self.encoder
        return {"retriever": self.description,
                "model_location": portable_path(encoder.model.location),
                "model_fingerprint": encoder.fingerprint,
                "query_prefix": encoder.model.query_prefix,
                "passage_prefix": encoder.model.passage_prefix,
                "precision": encoder.precision, "backend": encoder.backend}

    def neighbours(self, texts: list[str], k: int, block_size: int = 4096) -> np.ndarray:
        """As ``Retriever.neighbours``, the passages encoded once and scored on the
        encoder's device."""
        embeddings = self.encoder.encode(texts, "passage")
        matrix = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
        matrix = matrix.to(self.encoder.device)
        return top_k_blocks(lambda start, stop: matrix[start:stop] @ matrix.T,
                            matrix.shape[0], k, block_size)


class EmbeddingIndex(CandidateIndex):
    """Candidate embeddings; queries are encoded when scored."""

    def __init__(self, retriever: DenseRetriever, embeddings: np.ndarray):
        self.retriever = retriever
        self.embeddings = embeddings

    def score(self, queries: TextSet) -> InnerProductBlocks:
        return InnerProductBlocks(self.retriever.encode(queries), self.embeddings)
