"""Encoding through ONNX Runtime: the model's transformer exported once, its attention, GELU and
LayerNorm fused, optionally with int8 weights; pooling and normalisation done here.

Why by hand: sentence-transformers' own ``backend="onnx"`` goes through optimum, whose ONNX
package (optimum-onnx 0.1) pins transformers < 5 and so cannot be installed beside
sentence-transformers 6. What is written here is only the glue: ``torch.onnx.export`` makes the
graph, ``onnxruntime.transformers.optimizer`` fuses it, ``onnxruntime.quantization`` makes the
int8 copy, and ONNX Runtime runs it.

Measured on the 2-core AVX2 machine (``benchmarks/bench_encode.py``): the fused fp32 graph gives
the same embeddings as PyTorch (cosine 1.00000) and is faster; the int8 graph (per-channel int8
weights, int8 activations quantised per batch) is faster still but moves the embeddings (cosine
≈ 0.995), so its embeddings depend slightly on which texts share its batch.

The export lives in ``<cache>/onnx/<model fingerprint>-<precision>/`` (``model.onnx``, the
tokenizer, ``babelir-onnx.json``) and is checked against PyTorch on probe texts before use.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from babelir.errors import BabelirError
from babelir.io import atomic_dir, write_json

META = "babelir-onnx.json"
EXPORT_VERSION = 2  # bump when the export recipe changes: old exports are not reused
PROBES = ["query: Where is the Eiffel tower?", "passage: Der Eiffelturm steht in Paris.",
          "passage: 埃菲尔铁塔位于巴黎。", "query: " + "long text " * 80]
MIN_PARITY = {"fp32": 0.9999, "int8": 0.95}  # cosine to PyTorch on the probes, worst text


def onnx_runtime_version() -> str | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime.__version__


def _pooling_mode(st) -> str:
    """'mean' or 'cls' from the model's Pooling module; other module chains are refused."""
    names = [type(module).__name__ for module in st]
    if names[:2] != ["Transformer", "Pooling"] or set(names[2:]) - {"Normalize"}:
        raise BabelirError(f"the ONNX backend handles Transformer → Pooling (→ Normalize) models, "
                           f"not {' → '.join(names)}: use --backend torch")
    config = st[1].get_config_dict()
    modes = config.get("pooling_mode")
    modes = [modes] if isinstance(modes, str) else list(modes or [])
    if not modes:  # older configs: one boolean per mode
        modes = [k[len("pooling_mode_"):] for k, v in config.items()
                 if k.startswith("pooling_mode_") and v is True]
    aliases = {"mean_tokens": "mean", "cls_token": "cls"}
    modes = [aliases.get(m, m) for m in modes]
    if modes not in (["mean"], ["cls"]):
        raise BabelirError(f"the ONNX backend supports mean or CLS pooling, not {modes}: "
                           "use --backend torch")
    return modes[0]


class _LastHidden(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def _export_graph(st, path: Path) -> None:
    """torch.onnx.export of the transformer with eager attention (the form ORT can fuse)."""
    model = st[0].auto_model
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        inputs = st.tokenizer(["passage: a b", "query: c"], padding=True, return_tensors="pt")
        torch.onnx.export(
            _LastHidden(model).eval(), (inputs["input_ids"], inputs["attention_mask"]),
            str(path), input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"], opset_version=17, dynamo=False,
            dynamic_axes={name: {0: "batch", 1: "tokens"}
                          for name in ("input_ids", "attention_mask", "last_hidden_state")})
    finally:
        model.set_attn_implementation(previous)


def _fuse(path: Path, config) -> dict:
    """ORT's transformer optimizer: fused attention, GELU and skip-LayerNorm, in place."""
    from onnxruntime.transformers import optimizer

    fused = optimizer.optimize_model(str(path), model_type="bert",
                                     num_heads=config.num_attention_heads,
                                     hidden_size=config.hidden_size)
    fused.save_model_to_file(str(path))
    return {k: v for k, v in fused.get_fused_operator_statistics().items() if v}


def _quantise(source: Path, target: Path) -> None:
    """Dynamic int8: per-channel int8 weights, activations quantised at run time."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def export_onnx(st, folder: Path, precision: str, fp32_folder: Path | None = None) -> Path:
    """Export ``st`` (a loaded SentenceTransformer) into ``folder`` and check it; returns folder.

    int8 quantises the fused fp32 graph in ``fp32_folder`` (exported first when missing)."""
    if onnx_runtime_version() is None:
        raise BabelirError("the ONNX backend needs onnxruntime and onnx (pip install onnxruntime "
                           "onnx), or use --backend torch")
    pooling = _pooling_mode(st)
    if not getattr(st.tokenizer, "is_fast", False):
        raise BabelirError("the ONNX backend needs a model with a fast tokenizer "
                           "(tokenizer.json): use --backend torch")
    started = time.perf_counter()
    print(f"exporting the model to ONNX ({precision}), once: {folder}", flush=True)
    with atomic_dir(folder) as tmp:
        if precision == "int8":
            _quantise(fp32_folder / "model.onnx", tmp / "model.onnx")
            fused = json.loads((fp32_folder / META).read_text("utf-8"))["fused_operators"]
        else:
            _export_graph(st, tmp / "model.onnx")
            fused = _fuse(tmp / "model.onnx", st[0].auto_model.config)
        st.tokenizer.save_pretrained(str(tmp))
        meta = {"export_version": EXPORT_VERSION, "precision": precision, "pooling": pooling,
                "normalize": any(type(m).__name__ == "Normalize" for m in st),
                "do_lower_case": bool(getattr(st[0], "do_lower_case", False)),
                "pad_token": st.tokenizer.pad_token, "pad_token_id": st.tokenizer.pad_token_id or 0,
                "fused_operators": fused, "onnxruntime": onnx_runtime_version(),
                "torch": torch.__version__}
        encoder = OnnxEncoder(tmp, meta)
        reference = st.encode(PROBES, normalize_embeddings=True, convert_to_numpy=True)
        ours = encoder.encode(PROBES, batch_size=len(PROBES), max_length=st.max_seq_length)
        worst = float((reference * ours).sum(axis=1).min())
        if worst < MIN_PARITY[precision]:
            raise BabelirError(f"ONNX export of the model disagrees with PyTorch (cosine "
                               f"{worst:.5f} < {MIN_PARITY[precision]}): use --backend torch")
        meta["parity_min_cosine"] = worst
        meta["export_seconds"] = time.perf_counter() - started
        write_json(tmp / META, meta)
    return folder


class OnnxEncoder:
    """A loaded ONNX export: ``encode(texts)`` returns pooled (and normalised) float32 rows."""

    def __init__(self, folder: Path, meta: dict | None = None, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self.meta = meta or json.loads((self.folder / META).read_text("utf-8"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.folder / "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])
        # the Rust tokenizer itself: the same ids as transformers' wrapper, loaded in a fraction
        # of the time (transformers 5 re-converts a 250k-piece tokenizer.json on every load)
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))

    def encode(self, texts: list[str], batch_size: int, max_length: int) -> np.ndarray:
        """Tokenised once, in order of length (a batch pads to its longest text only), batches of
        ``batch_size``, the input order restored."""
        if self.meta["do_lower_case"]:
            texts = [t.lower() for t in texts]
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = None
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            vectors = self._encode_batch([ids[i] for i in rows])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out if out is not None else np.empty((0, 0), dtype=np.float32)

    def _encode_batch(self, token_ids: list[list[int]]) -> np.ndarray:
        longest = max(len(x) for x in token_ids)
        ids = np.full((len(token_ids), longest), self.meta["pad_token_id"], dtype=np.int64)
        mask = np.zeros((len(token_ids), longest), dtype=np.int64)
        for row, x in enumerate(token_ids):
            ids[row, :len(x)] = x
            mask[row, :len(x)] = 1
        hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        if self.meta["pooling"] == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        if self.meta["normalize"]:
            pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32)


def onnx_folder(cache_root: Path, fingerprint: str, precision: str) -> Path:
    version = (onnx_runtime_version() or "none").replace(".", "_")
    return cache_root / "onnx" / f"{fingerprint}-{precision}-v{EXPORT_VERSION}-ort{version}"


def _ensure_export(st_loader, cache_root: Path, fingerprint: str, precision: str) -> Path:
    folder = onnx_folder(cache_root, fingerprint, precision)
    if not (folder / META).is_file():
        fp32 = None
        if precision == "int8":
            fp32 = _ensure_export(st_loader, cache_root, fingerprint, "fp32")
        export_onnx(st_loader(), folder, precision, fp32)
    return folder


def load_or_export(st_loader, cache_root: Path, fingerprint: str, precision: str) -> OnnxEncoder:
    """The cached export for this model and precision, made on first use."""
    return OnnxEncoder(_ensure_export(st_loader, cache_root, fingerprint, precision))
