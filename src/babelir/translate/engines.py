"""Translation engines: ``translate(texts, src, tgt) -> list[str]`` with a ``name`` and ``version``.

Two backends:

``apertium``
    The Apertium rule-based MT system (Debian packages ``apertium`` + one package per pair,
    e.g. ``apertium-eng-spa``; ``scripts/install_apertium.sh`` installs en→es/ca/gl). Calls the
    ``apertium`` command line with many sentences per call: each sentence is put on one line
    (inner whitespace collapsed) and sentences are separated by a blank line, which Apertium's
    text format keeps as a paragraph break. The number of translated paragraphs must equal the
    number of inputs; if it does not, the batch is bisected until it does (down to one
    sentence per call), so sentence k of the output is always the translation of sentence k.
``hf:<model id or local folder>``
    A Hugging Face seq2seq model (NLLB, M2M-100, Marian), batched on cpu or cuda. Language codes
    per family (``model_language_codes``): NLLB uses FLORES-200 codes (``spa_Latn``) for
    ``src_lang`` and the forced first token; M2M-100 uses ISO 639-1 (``es``) as ``src_lang`` and
    the ``__es__`` token as forced first token; Marian models are one fixed pair (or, for
    multi-target models, take a ``>>spa<<`` prefix token).
"""

from __future__ import annotations

import functools
import hashlib
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from babelir.errors import BabelirError

# ISO 639-1 -> ISO 639-3 for the languages Apertium (and NLLB) names with three letters
ISO3 = {
    "af": "afr", "an": "arg", "ar": "ara", "as": "asm", "ast": "ast", "be": "bel",
    "bg": "bul", "bn": "ben", "br": "bre", "ca": "cat", "cs": "ces", "cy": "cym",
    "da": "dan", "de": "deu", "el": "ell", "en": "eng", "eo": "epo", "es": "spa",
    "et": "est", "eu": "eus", "fa": "fas", "fi": "fin", "fr": "fra", "ga": "gle",
    "gl": "glg", "he": "heb", "hi": "hin", "hr": "hrv", "hu": "hun", "id": "ind",
    "is": "isl", "it": "ita", "ja": "jpn", "kk": "kaz", "ko": "kor", "lt": "lit",
    "lv": "lav", "mk": "mkd", "ml": "mal", "mt": "mlt", "nb": "nob", "nl": "nld",
    "nn": "nno", "no": "nor", "oc": "oci", "pl": "pol", "pt": "por", "ro": "ron",
    "ru": "rus", "sc": "srd", "sk": "slk", "sl": "slv", "sq": "sqi", "sr": "srp",
    "sv": "swe", "sw": "swa", "ta": "tam", "te": "tel", "th": "tha", "tr": "tur",
    "uk": "ukr", "ur": "urd", "vi": "vie", "zh": "zho",
}

# ISO 639-1 -> FLORES-200 code used by NLLB
FLORES = {
    "af": "afr_Latn", "ar": "arb_Arab", "be": "bel_Cyrl", "bg": "bul_Cyrl", "bn": "ben_Beng",
    "ca": "cat_Latn", "cs": "ces_Latn", "cy": "cym_Latn", "da": "dan_Latn", "de": "deu_Latn",
    "el": "ell_Grek", "en": "eng_Latn", "eo": "epo_Latn", "es": "spa_Latn", "et": "est_Latn",
    "eu": "eus_Latn", "fa": "pes_Arab", "fi": "fin_Latn", "fr": "fra_Latn", "ga": "gle_Latn",
    "gl": "glg_Latn", "he": "heb_Hebr", "hi": "hin_Deva", "hr": "hrv_Latn", "hu": "hun_Latn",
    "id": "ind_Latn", "is": "isl_Latn", "it": "ita_Latn", "ja": "jpn_Jpan", "kk": "kaz_Cyrl",
    "ko": "kor_Hang", "lt": "lit_Latn", "lv": "lvs_Latn", "mk": "mkd_Cyrl", "ml": "mal_Mlym",
    "mt": "mlt_Latn", "nb": "nob_Latn", "nl": "nld_Latn", "nn": "nno_Latn", "oc": "oci_Latn",
    "pl": "pol_Latn", "pt": "por_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl", "sk": "slk_Latn",
    "sl": "slv_Latn", "sq": "als_Latn", "sr": "srp_Cyrl", "sv": "swe_Latn", "sw": "swh_Latn",
    "ta": "tam_Taml", "te": "tel_Telu", "th": "tha_Thai", "tr": "tur_Latn", "uk": "ukr_Cyrl",
    "ur": "urd_Arab", "vi": "vie_Latn", "zh": "zho_Hans",
}

MODEL_FAMILIES = ("nllb", "m2m100", "marian")


def normalize(text: str) -> str:
    """One line: inner whitespace (newlines included) collapsed to single spaces."""
    return " ".join(text.split())


class TranslationEngine:
    """Base class: subclasses set ``name`` / ``version`` and implement ``translate``."""

    name: str = "engine"
    version: str = "0"
    batch_size: int = 64

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def check_pair(self, src: str, tgt: str) -> None:
        """Raise a BabelirError if ``src`` → ``tgt`` cannot be translated."""

    def pair_version(self, src: str, tgt: str) -> str:
        """Version of what translates this pair (part of the cache key)."""
        return self.version

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version}


# ---------------------------------------------------------------------------- Apertium


INSTALL_HINT = "run `bash scripts/install_apertium.sh` (Debian/Ubuntu: apt-get install apertium " \
               "apertium-eng-spa apertium-eng-cat apertium-en-gl)"


class ApertiumEngine(TranslationEngine):
    """The ``apertium`` command line (``apertium -u -f txt <mode>``)."""

    name = "apertium"

    def __init__(self, batch_size: int = 400, timeout: float = 600.0,
                 executable: str = "apertium", modes: dict | None = None):
        path = shutil.which(executable)
        if path is None:
            raise BabelirError(f"the `{executable}` command is not installed: {INSTALL_HINT}")
        self.executable = path
        self.batch_size = int(batch_size)
        self.timeout = float(timeout)
        self.overrides = dict(modes or {})  # (src, tgt) -> mode name
        out = subprocess.run([path, "-V"], capture_output=True, text=True)
        match = re.search(r"(\d+(?:\.\d+)+)", out.stdout + out.stderr)
        self.version = match.group(1) if match else "unknown"
        self.calls = 0

    @functools.cached_property
    def modes(self) -> list[str]:
        """The installed translation directions (``apertium -l``)."""
        out = subprocess.run([self.executable, "-l"], capture_output=True, text=True)
        return sorted({line.strip() for line in out.stdout.splitlines() if line.strip()})

    def mode(self, src: str, tgt: str) -> str:
        if (src, tgt) in self.overrides:
            return self.overrides[(src, tgt)]
        for a in (src, ISO3.get(src, src)):
            for b in (tgt, ISO3.get(tgt, tgt)):
                if f"{a}-{b}" in self.modes:
                    return f"{a}-{b}"
        a3, b3 = ISO3.get(src, src), ISO3.get(tgt, tgt)
        raise BabelirError(
            f"Apertium has no {src}→{tgt} pair installed; install the Debian package "
            f"apertium-{a3}-{b3} (older name: apertium-{src}-{tgt}; see "
            f"`apt-cache search apertium | grep -i {b3}`), e.g. via scripts/install_apertium.sh. "
            f"Installed directions: {', '.join(self.modes) or 'none'}")

    def check_pair(self, src: str, tgt: str) -> None:
        self.mode(src, tgt)

    @functools.cache
    def pair_version(self, src: str, tgt: str) -> str:
        """``<apertium version>/<mode>/<Debian package version of the pair data>``."""
        mode = self.mode(src, tgt)
        data = "unknown"
        try:
            owner = subprocess.run(["dpkg", "-S", f"/usr/share/apertium/modes/{mode}.mode"],
                                   capture_output=True, text=True, timeout=30)
            package = owner.stdout.split(":")[0].strip() if owner.returncode == 0 else ""
            if package:
                ver = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                                     capture_output=True, text=True, timeout=30)
                data = f"{package}={ver.stdout.strip()}"
        except (OSError, subprocess.SubprocessError):
            pass
        return f"{self.version}/{mode}/{data}"

    def _run(self, mode: str, lines: Sequence[str]) -> list[str] | None:
        """Translate lines in one call; None when the paragraph count does not match."""
        self.calls += 1
        text = "\n\n".join(lines) + "\n"
        out = subprocess.run([self.executable, "-u", "-f", "txt", mode], input=text,
                             capture_output=True, text=True, timeout=self.timeout)
        if out.returncode != 0:
            raise BabelirError(f"apertium {mode} failed (exit {out.returncode}): "
                               f"{out.stderr.strip()[-500:]}")
        paragraphs = [p.strip() for p in re.split(r"\n[^\S\n]*\n", out.stdout.strip("\n"))]
        if len(lines) == 1:
            return [normalize(out.stdout)]
        return [normalize(p) for p in paragraphs] if len(paragraphs) == len(lines) else None

    def _translate_lines(self, mode: str, lines: list[str]) -> list[str]:
        result = self._run(mode, lines)
        if result is not None:
            return result
        half = len(lines) // 2  # count mismatch: bisect (len(lines) >= 2 here)
        return self._translate_lines(mode, lines[:half]) + self._translate_lines(mode, lines[half:])

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        mode = self.mode(src, tgt)
        lines = [normalize(t) for t in texts]
        todo = [i for i, line in enumerate(lines) if line]
        result = [""] * len(lines)
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            for i, translated in zip(chunk, self._translate_lines(mode, [lines[i] for i in chunk])):
                result[i] = translated
        return result


# ---------------------------------------------------------------------------- Hugging Face


def model_language_codes(family: str, src: str, tgt: str,
                         marian_targets: Sequence[str] | None = None) -> dict:
    """How a model family names ``src`` / ``tgt`` (ISO 639-1 codes).

    Returns ``{"src_lang", "tgt_lang", "forced_bos_token", "prefix"}`` (None where the family
    does not use it):

    * ``nllb``: FLORES-200 codes (``eng_Latn`` → ``spa_Latn``); the target code is the forced
      first generated token.
    * ``m2m100``: ISO codes as ``src_lang`` / ``tgt_lang``; forced first token ``__es__``.
    * ``marian``: a fixed pair, no codes; multi-target models (``marian_targets`` = the
      ``>>xxx<<`` tokens the tokenizer knows) get a ``>>spa<<`` / ``>>es<<`` prefix.
    """
    if family == "nllb":
        for lang in (src, tgt):
            if lang not in FLORES:
                raise BabelirError(f"no NLLB (FLORES-200) code known for language {lang!r}; "
                                   f"known: {', '.join(sorted(FLORES))}")
        return {"src_lang": FLORES[src], "tgt_lang": FLORES[tgt],
                "forced_bos_token": FLORES[tgt], "prefix": None}
    if family == "m2m100":
        return {"src_lang": src, "tgt_lang": tgt, "forced_bos_token": f"__{tgt}__",
                "prefix": None}
    if family == "marian":
        prefix = None
        if marian_targets:
            for code in (ISO3.get(tgt), tgt):
                if code and f">>{code}<<" in marian_targets:
                    prefix = f">>{code}<<"
                    break
            else:
                raise BabelirError(f"this multi-target Marian model has no target token for "
                                   f"{tgt!r} (it knows {', '.join(sorted(marian_targets)[:20])}…)")
        return {"src_lang": None, "tgt_lang": None, "forced_bos_token": None, "prefix": prefix}
    raise BabelirError(f"unknown model family {family!r}; known: {', '.join(MODEL_FAMILIES)}")


def _marian_pair(name: str) -> tuple[str, str] | None:
    """(src, tgt) from a Marian model name such as ``Helsinki-NLP/opus-mt-en-es``."""
    match = re.search(r"opus-mt(?:-tc-big)?-([a-z]{2,3})-([a-z]{2,3})$", name.rstrip("/"))
    return (match.group(1), match.group(2)) if match else None


def _folder_fingerprint(folder: Path) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(folder.iterdir()):
        if path.is_file():
            if path.suffix in (".json", ".txt", ".model", ".spm"):
                digest.update(path.name.encode() + path.read_bytes())
            else:
                digest.update(f"{path.name}:{path.stat().st_size}".encode())
    return digest.hexdigest()


class HFEngine(TranslationEngine):
    """A Hugging Face seq2seq model (NLLB, M2M-100, Marian)."""

    def __init__(self, model: str, device: str | None = None, batch_size: int = 16,
                 num_beams: int = 1, max_length: int = 256, family: str | None = None,
                 pair: tuple[str, str] | None = None):
        try:
            import torch
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        except ImportError as exc:  # pragma: no cover
            raise BabelirError(f"hf engine needs torch and transformers ({exc})") from None
        self.model_name = str(model)
        self.name = f"hf:{self.model_name}"
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = int(batch_size)
        self.num_beams = int(num_beams)
        self.max_length = int(max_length)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_name)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(self.model_name)
        except (OSError, ValueError) as exc:
            raise BabelirError(f"cannot load translation model {self.model_name!r}: {exc}") \
                from None
        self.model.to(self.device).eval()
        self.family = family or self._detect_family()
        self.pair = pair or (_marian_pair(self.model_name) if self.family == "marian" else None)
        folder = Path(self.model_name)
        if folder.is_dir():
            ident = _folder_fingerprint(folder)
        else:
            ident = getattr(self.model.config, "_commit_hash", None) or "unknown"
        self.version = (f"{ident}/beams={self.num_beams}/max={self.max_length}")
        self.calls = 0

    def _detect_family(self) -> str:
        model_type = getattr(self.model.config, "model_type", "")
        tok = type(self.tokenizer).__name__.lower()
        if model_type == "marian":
            return "marian"
        if model_type == "m2m_100":
            vocab = self.tokenizer.get_vocab()
            return "nllb" if ("nllb" in tok or "spa_Latn" in vocab) else "m2m100"
        raise BabelirError(f"model {self.model_name!r} is a {model_type!r}; supported: NLLB, "
                           "M2M-100, Marian (pass family= to force one)")

    def _marian_targets(self) -> list[str]:
        codes = getattr(self.tokenizer, "supported_language_codes", None)
        if codes:
            return list(codes)
        return [t for t in self.tokenizer.get_vocab() if re.fullmatch(r">>\w+<<", t)]

    def codes(self, src: str, tgt: str) -> dict:
        return model_language_codes(self.family, src, tgt,
                                    self._marian_targets() if self.family == "marian" else None)

    def check_pair(self, src: str, tgt: str) -> None:
        if self.family == "marian" and self.pair is not None:
            a, b = self.pair
            if a not in (src, ISO3.get(src)) or (b not in (tgt, ISO3.get(tgt))
                                                  and not self._marian_targets()):
                raise BabelirError(f"Marian model {self.model_name!r} translates {a}→{b}, "
                                   f"not {src}→{tgt}")
        codes = self.codes(src, tgt)
        token = codes["forced_bos_token"]
        if token is not None:
            unk = self.tokenizer.unk_token_id
            if self.tokenizer.convert_tokens_to_ids(token) in (None, unk):
                raise BabelirError(f"model {self.model_name!r} has no language token {token!r}")

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        import torch

        codes = self.codes(src, tgt)
        tok = self.tokenizer
        if codes["src_lang"] is not None and hasattr(tok, "src_lang"):
            tok.src_lang = codes["src_lang"]
        lines = [normalize(t) for t in texts]
        if codes["prefix"]:
            lines = [f"{codes['prefix']} {line}" for line in lines]
        gen = {"num_beams": self.num_beams, "max_new_tokens": self.max_length}
        if codes["forced_bos_token"] is not None:
            gen["forced_bos_token_id"] = tok.convert_tokens_to_ids(codes["forced_bos_token"])
        order = sorted(range(len(lines)), key=lambda i: len(lines[i]))  # less padding
        result = [""] * len(lines)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = tok([lines[i] for i in idx], return_tensors="pt", padding=True,
                        truncation=True, max_length=self.max_length)
            batch.pop("token_type_ids", None)
            batch = {k: v.to(self.device) for k, v in batch.items()}
            self.calls += 1
            with torch.inference_mode():
                out = self.model.generate(**batch, **gen)
            for i, text in zip(idx, tok.batch_decode(out, skip_special_tokens=True)):
                result[i] = normalize(text)
        return result

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "family": self.family,
                "device": self.device, "num_beams": self.num_beams}


def make_engine(spec: str, device: str | None = None, batch_size: int | None = None,
                **kwargs) -> TranslationEngine:
    """``apertium`` or ``hf:<model id or folder>``."""
    if spec == "apertium":
        return ApertiumEngine(**({"batch_size": batch_size} if batch_size else {}), **kwargs)
    if spec.startswith("hf:") and len(spec) > 3:
        return HFEngine(spec[3:], device=device,
                        **({"batch_size": batch_size} if batch_size else {}), **kwargs)
    raise BabelirError(f"unknown translation engine {spec!r}; use apertium or hf:<model>")
