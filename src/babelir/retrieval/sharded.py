"""Sharded, resumable on-disk embeddings of a corpus too large for memory.

Layout of an output folder::

    config.json               settings fixed at the start (shard size, dtype, key of the encoder)
    shard-00000.docids.txt    one docid per line, in corpus order
    shard-00000.npy           (n, dim) float32 or float16 embeddings of those passages
    ...
    manifest.json             written last: n, dim, dtype, the shards and their sizes

Shard *i* holds passages ``[i·shard_size, (i+1)·shard_size)`` of the corpus stream. A shard is
finished when its ``.npy`` exists: it is written atomically (temporary file + rename) after its
docids, so a run killed at any point leaves only whole shards. Re-running the same command
reads past the finished shards without encoding them (their docids are checked against the
stream, so a changed corpus is refused) and continues with the first missing one.

Memory is bounded by one shard (texts + embeddings) plus one encoder batch, whatever the
corpus size. On read, shards are memory-mapped (``np.load(mmap_mode="r")``).

Several processes (``torchrun --nproc-per-node N`` or ``accelerate launch``, the launchers of
training; or any launcher that sets ``RANK`` / ``WORLD_SIZE``): every process reads the
stream, and process *r* encodes the shards *i* with ``i % N == r``, one GPU each when the
encoder is put on ``cuda:LOCAL_RANK``. Rank 0 writes the manifest once every shard's ``.npy``
exists; the others wait for it, so every process returns the same embeddings. No process
group is needed: the shard files are the synchronisation.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from babelir.errors import BabelirError
from babelir.io import atomic_path, write_json, write_npy

EncodeFn = Callable[[list[str]], np.ndarray]
FORMAT = "babelir-sharded-embeddings/1"


def _shard_name(i: int) -> str:
    return f"shard-{i:05d}"


def _records(source: Iterable) -> Iterator[tuple[str, str]]:
    """(docid, text) pairs from records, chunks of records, or (docid, text) tuples."""
    from babelir.data.miracl import passage_text

    for item in source:
        items = item if isinstance(item, list) else [item]
        for rec in items:
            if isinstance(rec, dict):
                yield rec["docid"], passage_text(rec)
            else:
                docid, text = rec
                yield docid, text


def _docids_text(docids: list[str]) -> str:
    return "".join(d + "\n" for d in docids)


def _docids_digest(docids: list[str]) -> str:
    return hashlib.sha256(_docids_text(docids).encode("utf-8")).hexdigest()


def _read_docids(path: Path) -> list[str]:
    """The docids of a shard's ``.docids.txt`` (one a line)."""
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def process_rank() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment (``RANK``, ``WORLD_SIZE``)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _wait_for(paths: list[Path], what: str, poll: float, timeout: float | None) -> None:
    started = time.monotonic()
    while not all(p.is_file() for p in paths):
        if timeout is not None and time.monotonic() - started > timeout:
            missing = [p.name for p in paths if not p.is_file()]
            raise BabelirError(f"waited {timeout:.0f} s for {what} ({', '.join(missing[:5])}"
                               f"{' …' if len(missing) > 5 else ''}): did another process fail?")
        time.sleep(poll)


def _resolve_rank(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """(rank, world size): the arguments where given, else the launcher's environment."""
    default_rank, default_world = process_rank()
    rank = default_rank if rank is None else int(rank)
    world_size = default_world if world_size is None else int(world_size)
    if world_size < 1 or not 0 <= rank < world_size:
        raise BabelirError(f"rank {rank} is not in [0, world size {world_size})")
    return rank, world_size


def _settle_config(out: Path, config: dict, rank: int, poll: float,
                   timeout: float | None) -> None:
    """Write ``out/config.json`` (rank 0, first run) or check it holds ``config``."""
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "config.json"
    if rank != 0:  # rank 0 writes the settings; the others check them
        _wait_for([config_path], "the settings rank 0 writes", poll, timeout)
    if config_path.is_file():
        old = json.loads(config_path.read_text())
        if old != config:
            raise BabelirError(f"{out} holds embeddings made with other settings ({old}); "
                               f"use another folder or delete it (wanted {config})")
    else:
        write_json(config_path, config)


def _progress_bar(out: Path, total: int | None, rank: int, world_size: int):
    from tqdm.auto import tqdm

    desc = f"encoding {out.parent.name}/{out.name}"
    if world_size > 1:
        desc += f" [rank {rank}/{world_size}]"
    return tqdm(total=total, unit="passages", unit_scale=True, desc=desc, smoothing=0.05,
                position=rank if world_size > 1 else None)


class _ShardWriter:
    """One process's pass over the corpus stream: cuts it into shards, encodes and writes
    its own unfinished ones, checks the finished ones against the stream and notes the
    ones other processes encode (``pending``: ``.npy`` path -> digest of their docids)."""

    def __init__(self, out: Path, encode: EncodeFn, *, shard_size: int, batch_size: int,
                 dtype: str, rank: int, world_size: int, bar) -> None:
        self.out, self.encode, self.bar = out, encode, bar
        self.shard_size, self.batch_size, self.dtype = shard_size, batch_size, dtype
        self.rank, self.world_size = rank, world_size
        self.shards: list[dict] = []
        self.pending: dict[Path, str] = {}
        self.dim: int | None = None
        self.n_done = self.n_encoded = 0

    def _finished(self, index: int) -> bool:
        return (self.out / f"{_shard_name(index)}.npy").is_file()

    def _mine(self, index: int) -> bool:
        return index % self.world_size == self.rank

    def run(self, records: Iterable[tuple[str, str]]) -> None:
        """Read the whole stream, finishing every shard in turn."""
        docids: list[str] = []
        texts: list[str] = []
        index = 0
        finished = self._finished(index)
        for docid, text in records:
            if "\n" in docid:
                raise BabelirError(f"docid with a newline: {docid!r}")
            if finished or not self._mine(index):  # done earlier, or another process's:
                text = ""                              # keep only its docids
                if self.bar is not None and finished:
                    self.bar.update(1)
            docids.append(docid)
            texts.append(text)
            if len(docids) == self.shard_size:
                self._finish(index, docids, texts)
                index += 1
                docids, texts = [], []
                finished = self._finished(index)
        if docids:
            self._finish(index, docids, texts)

    def _finish(self, index: int, docids: list[str], texts: list[str]) -> None:
        name = _shard_name(index)
        npy, ids_path = self.out / f"{name}.npy", self.out / f"{name}.docids.txt"
        if npy.is_file():  # finished by an earlier run: check it is the same corpus slice
            if _read_docids(ids_path) != docids:
                raise BabelirError(f"{ids_path} does not match the corpus being encoded: "
                                   "the corpus changed; use another output folder")
            arr = np.load(npy, mmap_mode="r")
            self.dim = arr.shape[1]
            del arr
        elif not self._mine(index):  # another process encodes this shard
            self.pending[npy] = _docids_digest(docids)
        else:
            emb = self._encode(texts)
            self.dim = emb.shape[1]
            with atomic_path(ids_path) as tmp:
                tmp.write_text(_docids_text(docids), encoding="utf-8")
            write_npy(npy, emb)  # last: its presence marks the shard finished
            self.n_encoded += len(texts)
        self.shards.append({"name": name, "n": len(docids)})
        self.n_done += len(docids)

    def _encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) embeddings of one shard, ``batch_size`` texts a call."""
        emb = None
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start:start + self.batch_size]
            part = np.asarray(self.encode(batch))
            if part.ndim != 2 or part.shape[0] != len(batch):
                raise BabelirError(f"encode returned shape {part.shape} for "
                                   f"{len(batch)} texts")
            if emb is None:
                emb = np.empty((len(texts), part.shape[1]), dtype=self.dtype)
            emb[start:start + len(part)] = part
            if self.bar is not None:
                self.bar.update(len(part))
        return emb

    def check_pending(self, poll: float, timeout: float | None) -> None:
        """Rank 0: wait for the other processes' shards; check each is the corpus slice
        rank 0 read."""
        _wait_for(list(self.pending), "the shards of the other processes", poll, timeout)
        for npy, digest in self.pending.items():
            ids_path = npy.with_name(npy.name.removesuffix(".npy") + ".docids.txt")
            if _docids_digest(_read_docids(ids_path)) != digest:
                raise BabelirError(f"{ids_path} does not match rank 0's corpus slice: did the "
                                   "processes read different corpora?")
            if self.dim is None:
                self.dim = np.load(npy, mmap_mode="r").shape[1]


def encode_corpus(source: Iterable, out: str | os.PathLike, encode: EncodeFn, *,
                  shard_size: int = 50_000, batch_size: int = 1_024, dtype: str = "float32",
                  key: str = "", total: int | None = None, progress: bool = True,
                  rank: int | None = None, world_size: int | None = None,
                  wait_timeout: float | None = None, poll_seconds: float = 1.0,
                  ) -> ShardedEmbeddings:
    """Encode a corpus stream into ``out`` shard by shard; resume a previous partial run.

    source: records ``{"docid", "text", "title"?}`` (or lists of them, as ``iter_corpus``
        yields) or ``(docid, text)`` pairs; read once, in order.
    encode: ``texts -> (len(texts), dim)`` array, called on at most ``batch_size`` texts,
        e.g. ``lambda t: encoder.encode(t, "passage")``.
    key: names the encoder/settings; a resumed run with another key, shard size or dtype
        is refused rather than mixing embeddings.
    rank, world_size: this process and the number of processes (default: ``RANK`` and
        ``WORLD_SIZE`` from the environment, else 0 and 1); shard i is encoded by rank
        ``i % world_size``; ``wait_timeout`` bounds how long a process waits for the others
        (None: until they finish; torchrun stops every process when one fails).
    """
    rank, world_size = _resolve_rank(rank, world_size)
    out = Path(out)
    if dtype not in ("float32", "float16"):
        raise BabelirError(f"dtype must be float32 or float16, not {dtype!r}")
    if shard_size < 1 or batch_size < 1:
        raise BabelirError("shard_size and batch_size must be positive")
    config = {"format": FORMAT, "shard_size": shard_size, "dtype": dtype, "key": key}
    _settle_config(out, config, rank, poll_seconds, wait_timeout)
    if (out / "manifest.json").is_file():
        return ShardedEmbeddings(out)

    bar = _progress_bar(out, total, rank, world_size) if progress else None
    writer = _ShardWriter(out, encode, shard_size=shard_size, batch_size=batch_size,
                          dtype=dtype, rank=rank, world_size=world_size, bar=bar)
    started = time.perf_counter()
    writer.run(_records(source))
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - started
    if rank != 0:
        _wait_for([out / "manifest.json"], "rank 0's manifest", poll_seconds, wait_timeout)
        return ShardedEmbeddings(out)
    writer.check_pending(poll_seconds, wait_timeout)
    manifest = {"format": FORMAT, "n": writer.n_done, "dim": writer.dim, "dtype": dtype,
                "key": key, "shard_size": shard_size, "shards": writer.shards,
                "processes": world_size,
                "encoded_this_run": writer.n_encoded if world_size == 1 else None,
                "seconds_this_run": round(elapsed, 3)}
    write_json(out / "manifest.json", manifest)
    return ShardedEmbeddings(out)


class ShardedEmbeddings:
    """Read side: memory-mapped shards and their docids."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        path = self.folder / "manifest.json"
        if not path.is_file():
            raise BabelirError(f"{self.folder} has no manifest.json: the encoding did not "
                               "finish (re-run it to resume)")
        self.manifest = json.loads(path.read_text())
        self.n = int(self.manifest["n"])
        self.dim = self.manifest["dim"]
        self._docids: list[str] | None = None

    def __len__(self) -> int:
        return self.n

    @property
    def shard_names(self) -> list[str]:
        return [s["name"] for s in self.manifest["shards"]]

    def shard(self, i: int) -> np.ndarray:
        return np.load(self.folder / f"{self.shard_names[i]}.npy", mmap_mode="r")

    def iter_shards(self) -> Iterator[np.ndarray]:
        for i in range(len(self.shard_names)):
            yield self.shard(i)

    def iter_chunks(self, rows: int = 65_536, dtype=np.float32) -> Iterator[np.ndarray]:
        """Contiguous float32 blocks of at most ``rows`` vectors, in corpus order."""
        for shard in self.iter_shards():
            for start in range(0, len(shard), rows):
                yield np.ascontiguousarray(shard[start:start + rows], dtype=dtype)

    @property
    def docids(self) -> list[str]:
        if self._docids is None:
            ids: list[str] = []
            for name in self.shard_names:
                ids.extend(_read_docids(self.folder / f"{name}.docids.txt"))
            self._docids = ids
        return self._docids

    def to_array(self, dtype=np.float32) -> np.ndarray:
        """All embeddings in one in-memory array (only for corpora that fit)."""
        if self.n == 0:
            return np.empty((0, self.dim or 0), dtype=dtype)
        return np.concatenate([np.asarray(s, dtype=dtype) for s in self.iter_shards()])
