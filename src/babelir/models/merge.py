"""Weight-space interpolation of two models of one architecture (WiSE-FT, Wortsman et al.,
2022, "Robust fine-tuning of zero-shot models"): ``(1 - λ) · base + λ · tuned``.

``babelir merge BASE TUNED --weight λ --out FOLDER``. BASE and TUNED are sentence-transformers
folders (BASE may be the bundled ``multilingual-e5-small``, resolved with
``babelir.models.registry.resolve_model``). Both must have the same architecture
(``config.json`` ``model_type`` / ``architectures``, the ``modules.json`` module types) and
the same weight files with the same parameter names, shapes and dtypes; anything else is a
BabelirError naming the first differences.

The output is a copy of TUNED's folder (tokenizer, pooling, normalisation, prompts/prefixes)
whose weight files are replaced by the interpolated weights, written as
``model.safetensors`` (a ``pytorch_model.bin`` of TUNED is converted); TUNED's provenance
files for its own weights (``babelir_source.json``, ``checkpoint.json``) are left out and a
model card (``README.md``) gets a first line saying it is a merge. Floating-point
parameters are interpolated in float64 and stored in TUNED's dtype; λ = 0 and λ = 1 copy BASE
and TUNED bit for bit. Other tensors (integer buffers such as ``position_ids``) must be equal
and are kept. ``babelir-merge.json`` records BASE, TUNED, λ and their fingerprints: the
embedding-cache fingerprint (``babelir.retrieval.dense.model_fingerprint``) and the SHA-256 of
each weight file.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import torch

from babelir.errors import BabelirError

WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin")
RECORD = "babelir-merge.json"
# provenance files that describe TUNED's exact weights: not true of the merged ones
# and a centring (per-language means of TUNED's embeddings, not of the merged model's)
_SKIP = {*WEIGHT_NAMES, RECORD, "babelir_source.json", "checkpoint.json",
         "babelir_centring.npz", "babelir_centring.json"}


def _local_folder(name: str, cache_root: Path) -> tuple[str, Path]:
    """(location, folder) of a model name: bundled name, local folder, or cached Hub id."""
    from babelir.models.registry import resolve_model

    location = resolve_model(name, cache_root).location
    folder = Path(location)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(location, local_files_only=True))
        except Exception:
            raise BabelirError(f"model {name!r} is neither a local folder nor a Hub id in the "
                               "local Hugging Face cache") from None
    if not (folder / "config.json").is_file():
        raise BabelirError(f"{folder} has no config.json: not a sentence-transformers / "
                           "transformers model folder")
    return location, folder


def weight_files(folder: Path) -> dict[str, Path]:
    """Weight files per module folder ('' = the root): ``model.safetensors`` or, failing
    that, ``pytorch_model.bin``. Sharded checkpoints are refused."""
    folder = Path(folder)
    if any(folder.rglob("*.safetensors.index.json")) or any(folder.rglob("*.bin.index.json")):
        raise BabelirError(f"{folder}: sharded checkpoints are not supported by merge")
    found: dict[str, Path] = {}
    for name in reversed(WEIGHT_NAMES):  # model.safetensors wins over pytorch_model.bin
        for path in folder.rglob(name):
            relative = path.parent.relative_to(folder)
            if any(part.startswith(".") for part in relative.parts):
                continue
            found[str(relative) if str(relative) != "." else ""] = path
    if not found:
        raise BabelirError(f"{folder} holds no weights ({' or '.join(WEIGHT_NAMES)})")
    return dict(sorted(found.items()))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise BabelirError(f"{path} is not a state dict")
    return state


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BabelirError(f"{path}: unreadable JSON ({exc})") from None


def architecture(folder: Path) -> dict:
    """What must match between BASE and TUNED besides the parameters."""
    config = _read_json(folder / "config.json")
    modules = _read_json(folder / "modules.json") if (folder / "modules.json").is_file() else []
    # module classes by name: sentence-transformers versions save the same class under
    # different module paths (sentence_transformers.models.Pooling, ….modules.pooling.Pooling)
    return {"model_type": config.get("model_type"),
            "architectures": config.get("architectures"),
            "modules": ([str(m.get("type")).rsplit(".", 1)[-1] for m in modules]
                        if isinstance(modules, list) else None)}


def _limited(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def check_compatible(base: Path, tuned: Path) -> dict[str, tuple[Path, Path]]:
    """The pairs of weight files to merge, per module folder; BabelirError if they differ."""
    arch_b, arch_t = architecture(base), architecture(tuned)
    diff = [f"{k}: {arch_b[k]!r} vs {arch_t[k]!r}" for k in arch_b if arch_b[k] != arch_t[k]]
    if diff:
        raise BabelirError(f"cannot merge {base} and {tuned}: different architectures "
                           f"({'; '.join(diff)})")
    files_b, files_t = weight_files(base), weight_files(tuned)
    if set(files_b) != set(files_t):
        only = sorted(set(files_b) ^ set(files_t))
        raise BabelirError(f"cannot merge {base} and {tuned}: weight files in different "
                           f"module folders ({_limited([repr(o) for o in only])})")
    return {k: (files_b[k], files_t[k]) for k in files_b}


def _check_state(module: str, base: dict, tuned: dict, where: str) -> None:
    problems = []
    for key in sorted(set(base) & set(tuned)):
        b, t = base[key], tuned[key]
        if b.shape != t.shape:
            problems.append(f"{key} shape {tuple(b.shape)} vs {tuple(t.shape)}")
        elif b.dtype != t.dtype:
            problems.append(f"{key} dtype {b.dtype} vs {t.dtype}")
        elif not t.is_floating_point() and not torch.equal(b, t):
            problems.append(f"{key} ({t.dtype}, not interpolated) differs")
    problems += [f"{k} only in BASE" for k in sorted(set(base) - set(tuned))]
    problems += [f"{k} only in TUNED" for k in sorted(set(tuned) - set(base))]
    if problems:
        raise BabelirError(f"cannot merge {where}: parameters differ in module "
                           f"{module or '(root)'}: {_limited(problems)}")


def interpolate(base: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor],
                weight: float) -> dict[str, torch.Tensor]:
    """``(1 - weight) · base + weight · tuned`` per floating-point tensor (in float64, stored
    in the tuned dtype); weight 0 / 1 return exact copies of base / tuned."""
    out = {}
    for key, t in tuned.items():
        b = base[key]
        if weight == 0.0:
            merged = b
        elif weight == 1.0 or not t.is_floating_point():
            merged = t
        else:
            merged = ((1.0 - weight) * b.double() + weight * t.double()).to(t.dtype)
        out[key] = merged.detach().clone().contiguous()
    return out


def check_weight(weight: object) -> float:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
            or not math.isfinite(weight) or not 0.0 <= weight <= 1.0:
        raise BabelirError(f"--weight must be a number in [0, 1] (0 = BASE, 1 = TUNED), "
                           f"got {weight!r}")
    return float(weight)


def _prompts(folder: Path) -> dict | None:
    return _read_json(folder / "config_sentence_transformers.json").get("prompts") or None


def _fingerprints(location: str, files: dict[str, Path]) -> dict:
    from babelir.io import sha256_of
    from babelir.retrieval.dense import model_fingerprint

    return {"model_fingerprint": model_fingerprint(location),
            "weights_sha256": {(k or ".") + "/" + p.name: sha256_of(p) for k, p in files.items()}}


def _after_metadata(card: str, note: str) -> str:
    """``note`` inserted into a model card after its YAML front matter (``---`` … ``---``,
    which the Hub and ``huggingface_hub.ModelCard`` read only at the very top), else first."""
    if card.startswith("---\n"):
        end = card.find("\n---\n", 4)
        if end >= 0:
            head, body = card[:end + 5], card[end + 5:]
            return f"{head}\n{note}{body.lstrip(chr(10))}"
    return note + card


def merge_models(base: str, tuned: str, weight: float, out: str | Path,
                 cache_root: Path, card_names: tuple[str, str] | None = None) -> dict:
    """Write ``(1 - weight) · base + weight · tuned`` into ``out``; returns the record that is
    also written there as ``babelir-merge.json``. ``card_names``: how the model card's note
    names BASE and TUNED (default: as given; a card that travels names no local path)."""
    from safetensors.torch import save_file

    from babelir import __version__
    from babelir.io import MARKER, atomic_dir, check_output_folder, write_json

    weight = check_weight(weight)
    out = Path(out)
    check_output_folder(out)  # refused before any work
    base_location, base_folder = _local_folder(base, cache_root)
    tuned_location, tuned_folder = _local_folder(tuned, cache_root)
    for name, folder in (("BASE", base_folder), ("TUNED", tuned_folder)):
        if out.resolve() == folder.resolve():
            raise BabelirError(f"--out {out} is the {name} model folder; choose another --out")
    pairs = check_compatible(base_folder, tuned_folder)
    states = {}
    for module, (path_b, path_t) in pairs.items():  # every check before anything is written
        states[module] = load_weights(path_b), load_weights(path_t)
        _check_state(module, *states[module], f"{base_folder} and {tuned_folder}")
    record = {
        "formula": "(1 - weight) * base + weight * tuned",
        "weight": weight,
        "base": {"name": base, "location": base_location,
                 **_fingerprints(base_location, {k: v[0] for k, v in pairs.items()})},
        "tuned": {"name": tuned, "location": tuned_location,
                  **_fingerprints(tuned_location, {k: v[1] for k, v in pairs.items()})},
        "modules": sorted(k or "." for k in pairs),
        "babelir_version": __version__,
    }
    with atomic_dir(out) as tmp:
        shutil.copytree(tuned_folder, tmp, dirs_exist_ok=True, symlinks=False,
                        ignore=shutil.ignore_patterns(*_SKIP, MARKER))
        n_params = 0
        for module, (state_b, state_t) in states.items():
            merged = interpolate(state_b, state_t, weight)
            n_params += sum(int(v.numel()) for v in merged.values())
            target = tmp / module / "model.safetensors"
            target.parent.mkdir(parents=True, exist_ok=True)
            save_file(merged, str(target), metadata={"format": "pt"})
        prompts_t, prompts_b = _prompts(tuned_folder), _prompts(base_folder)
        if prompts_t is None and prompts_b is not None:  # keep the base model's prefixes
            config_path = tmp / "config_sentence_transformers.json"
            config = _read_json(config_path)
            config["prompts"] = prompts_b
            config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        card = tmp / "README.md"
        if card.is_file():  # TUNED's model card: say what this folder really is
            base_name, tuned_name = card_names or (base, tuned)
            note = (f"> Merged by `babelir merge`: (1 - {weight}) * BASE ({base_name}) + "
                    f"{weight} * TUNED ({tuned_name}); see {RECORD}. The card below "
                    "describes TUNED.\n\n")
            card.write_text(_after_metadata(card.read_text(encoding="utf-8"), note),
                            encoding="utf-8")
        record["prompts"] = prompts_t if prompts_t is not None else prompts_b
        record["parameters"] = n_params
        write_json(tmp / RECORD, record)
    record["out"] = str(out)
    return record
