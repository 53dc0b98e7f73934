"""Regenerate results/README.md from the raw JSON under results/ (no number is typed by hand).

    python benchmarks/make_results_page.py
"""

from __future__ import annotations

import json
from pathlib import Path

from babelir.report.tables import language_bias_table, markdown_table, per_language_table, table1

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _runs(folder: Path) -> list[tuple[str, dict]]:
    return [(p.parent.name, _load(p)) for p in sorted(folder.glob("*/results.json"))]


def zero_shot_section() -> list[str]:
    runs = _runs(RESULTS / "xquad-r-zeroshot")
    if not runs:
        return []
    first = runs[0][1]["summary"]
    out = ["## XQuAD-R, zero-shot: bundled multilingual-e5-small and BM25",
           f"Candidates: {first['candidate_mode']}; full-ranking mAP, macro over the "
           f"{len(first['languages'])} query languages ({first['n_queries']:,} queries); rank "
           f"distance in the pool of {first['n_candidates']:,} candidates (lower is better). "
           "Produced by `benchmarks/zero_shot_xquad_r.py`.",
           table1([r["summary"] for _, r in runs])]
    for name, results in runs:
        info = results["retriever"]
        out += [f"### {name}",
                f"Retriever: {info['retriever']}; commit `{results['git_commit']}`; "
                f"config in [results.json](xquad-r-zeroshot/{name}/results.json).",
                per_language_table(results), language_bias_table(results),
                f"![mAP per language pair](xquad-r-zeroshot/{name}/heatmap_map.png)"]
    return out


def trained_section() -> list[str]:
    runs = sorted((RESULTS / "xquad-r-trained").glob("*/eval/results.json"))
    if not runs:
        return []
    import yaml

    baselines = [r["summary"] for _, r in _runs(RESULTS / "xquad-r-zeroshot")]
    rows, parts = [], []
    for path in runs:
        folder = path.parent.parent
        results = _load(path)
        config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
        history = _load(folder / "history.json")
        log = (folder / "train_log.jsonl").read_text(encoding="utf-8").splitlines()
        step_seconds = sum(json.loads(line)["seconds"] for line in log)
        summary = dict(results["summary"], model=folder.name)
        rows.append(summary)
        parts += [f"### {folder.name}",
                  f"Strategy `{config['strategy']}`"
                  + (f" (alpha {config['alpha']})" if config["strategy"] == "hybrid" else "")
                  + f", {config['steps']} steps of batch {config['batch_size']}, learning rate "
                  f"{config['learning_rate']}, max length {config['max_length']}, word embeddings "
                  f"{'frozen' if config['freeze_embeddings'] else 'trained'}, seed {config['seed']};"
                  f" pairs `{config['pairs']}`; selected step {history['best_step']} (lowest dev "
                  f"loss {history['best_dev_loss']:.4f}); {step_seconds / 60:.1f} "
                  f"minutes of training steps. Config, logs and leakage check in "
                  f"[{folder.name}/](xquad-r-trained/{folder.name}/).",
                  per_language_table(results), language_bias_table(results),
                  f"![mAP per language pair](xquad-r-trained/{folder.name}/eval/heatmap_map.png)"]
    return ["## XQuAD-R after fine-tuning the bundled model",
            "The zero-shot rows are the same model before training. One seed per run: see the "
            "experiment grid for variance.",
            table1(baselines + rows)] + parts


def verification_section() -> list[str]:
    rows = []
    for path in sorted((RESULTS / "benchmarks").glob("verify_*.json")):
        v = _load(path)
        for key in ("mono.map", "cross.map", "multi.map"):
            rows.append([v["model"], key, f"{v['babelir'][key]:.5f}",
                         f"{v['sklearn_lareqa_style'][key]:.5f}", f"{v['abs_difference'][key]:.1e}"])
    if not rows:
        return []
    return ["## Independent check of the Table-1 numbers",
            "Each run's score matrix re-scored per query with scikit-learn's "
            "`average_precision_score`, as the LAReQA reference code does "
            "(`benchmarks/verify_xquad_r.py`).",
            markdown_table(["model", "metric", "babelir", "scikit-learn", "|difference|"], rows)]


def tokenizer_section() -> list[str]:
    runs = _runs(RESULTS / "bm25-tokenizers")
    if not runs:
        return []
    langs = runs[0][1]["languages"]
    rows, n_texts = [], 0
    for name, results in runs:
        timing = _load(RESULTS / "bm25-tokenizers" / name / "tokenize_time.json")
        s = results["summary"]
        rows.append([name] + [f"{results['mono'][x]['map']:.3f}" for x in langs]
                    + [f"{s['mono.map']:.3f}", f"{s['cross.map']:.3f}", f"{s['multi.map']:.3f}",
                       f"{timing['seconds']:.1f}"])
        n_texts = timing["texts"]
    return ["## BM25 tokenisers on XQuAD-R",
            "Monolingual mAP per language, then the macro Mo / Cr / Mul mAP, and the time to "
            f"tokenise all {n_texts:,} query and candidate texts "
            "(`benchmarks/bm25_tokenizers.py`).",
            markdown_table(["tokeniser"] + [f"Mo {x}" for x in langs]
                           + ["Mo", "Cr", "Mul", "tokenise s"], rows)]


def benchmark_section() -> list[str]:
    out = []
    metrics = RESULTS / "benchmarks" / "metrics_time.json"
    if metrics.exists():
        m = _load(metrics)
        out += ["## Metric time (XQuAD-R, Mo + Cr + Mul, after encoding)",
                markdown_table(["implementation", "seconds"], [
                    ["babelir (all metrics, vectorised ranks)",
                     f"{m['babelir_seconds_all_metrics_mo_cr_mul']:.2f}"],
                    ["naive per-query sort (mAP only)"
                     + (" (extrapolated)" if m["naive_extrapolated_from_subset"] else ""),
                     f"{m['naive_seconds_map_only']:.2f}"],
                    ["speed-up", f"{m['speedup']:.1f}×"]]),
                f"Machine: {m['machine']['cpu']}, {m['machine']['torch_threads']} threads."]
    step = RESULTS / "benchmarks" / "train_step_time.json"
    if step.exists():
        t = _load(step)
        out += ["## Training step time",
                markdown_table(["loop", "median s / step"], [
                    ["babelir train", f"{t['babelir_median_step_s']:.2f}"],
                    ["plain sentence-transformers MNRL", f"{t['plain_st_median_step_s']:.2f}"],
                    ["ratio", f"{t['ratio_babelir_over_plain']:.3f}"]]),
                f"{t['model']}, batch {t['batch_size']}, max length {t['max_length']}, "
                f"word embeddings {'frozen' if t['freeze_embeddings'] else 'trained'}, the same "
                f"{t['steps']} batches (`benchmarks/bench_train_step.py`)."]
    return out


def _stats(row: dict) -> list[str]:
    return [f"{row['min_s']:.2f} / {row['median_s']:.2f} / {row['max_s']:.2f}"]


def encode_speed_section() -> list[str]:
    out = []
    for name in ("encode_throughput", "encode_throughput_with_bf16"):
        path = RESULTS / "benchmarks" / f"{name}.json"
        if path.exists():
            out += _encode_speed_table(_load(path), with_bf16=name.endswith("bf16"))
    return out


def _encode_speed_table(e: dict, with_bf16: bool) -> list[str]:
    rows = [[name, *_stats(r), f"{r['texts_per_s']:.1f}", f"{r['speedup_vs_st_bs32']:.2f}×",
             f"{r['min_cosine_vs_st']:.5f}"] for name, r in e["systems"].items()]
    title = ("### The same with bf16, measured while the test suite ran on the same cores"
             if with_bf16 else "## Encoding throughput and precision")
    return [title,
            markdown_table(["encoder", "s min / median / max", "texts/s", "vs ST fp32 bs 32",
                            "min cosine vs ST"], rows),
            f"{e['texts']} XQuAD-R questions and sentences (11 languages, half each), max length "
            f"{e['max_length']}, {e['repeats']} rounds, systems in turn; CPU capability "
            f"{e['cpu_capability']}, {e['machine']['torch_threads']} threads "
            "(`benchmarks/bench_encode.py`). `babelir_default` is fp32 on ONNX Runtime."]


def precision_quality_section() -> list[str]:
    path = RESULTS / "benchmarks" / "encode_precision.json"
    if not path.exists():
        return []
    q = _load(path)
    rows = []
    for name, r in q["systems"].items():
        delta = r.get("delta_vs_fp32_torch")
        rows.append([name, str(r["max_articles"] or "all"), f"{r['mono.map']:.4f}",
                     f"{r['cross.map']:.4f}", f"{r['multi.map']:.4f}",
                     f"{r['multi.rank_distance']:.1f}",
                     " / ".join(f"{delta[k]:+.4f}" for k in ("mono.map", "cross.map", "multi.map"))
                     if delta else "reference",
                     {True: "yes", False: "**no**"}.get(r.get("passes_guard"), "—")])
    return ["### Quality guard: XQuAD-R at each precision",
            markdown_table(["system", "articles", "Mo mAP", "Cr mAP", "Mul mAP", "rank dist.",
                            "Δ Mo / Cr / Mul", f"within {q['guard']}"], rows),
            "Each from a cold embedding cache (`benchmarks/precision_quality.py`)."]


def train_precision_section() -> list[str]:
    path = RESULTS / "benchmarks" / "train_precision.json"
    if not path.exists():
        return []
    t = _load(path)
    runs = t["runs"]
    steps = [d["step"] for d in runs["fp32"]["dev_loss"]]
    rows = [[p, *_stats(r), *[f"{d['dev_loss']:.4f}" for d in r["dev_loss"]]]
            for p, r in runs.items()]
    return ["### Training precision",
            markdown_table(["precision", "s / step min / median / max",
                            *[f"dev loss @{s}" for s in steps]], rows),
            f"{t['model']}, batch {t['batch_size']}, max length {t['max_length']}, {t['steps']} "
            f"steps, same seed and batches; bf16 / fp32 speed-up "
            f"{t['speedup_bf16_over_fp32']:.2f}× on CPU capability {t['cpu_capability']} "
            "(`benchmarks/bench_train_precision.py`)."]


def eval_time_section() -> list[str]:
    path = RESULTS / "benchmarks" / "eval_wall_time.json"
    if not path.exists():
        return []
    t = _load(path)
    return ["### One full XQuAD-R evaluation, cold caches",
            f"{t['what']}: {t['wall_s']:.0f} s wall ({t['onnx_export_s']:.0f} s of it the ONNX "
            f"export, {t['timing_s']['retrieve']:.0f} s encoding and scoring), peak RSS "
            f"{t['peak_rss_mib']:.0f} MiB; Mo / Cr / Mul mAP {t['summary']['mono.map']:.4f} / "
            f"{t['summary']['cross.map']:.4f} / {t['summary']['multi.map']:.4f}."]


def eval_memory_section() -> list[str]:
    path = RESULTS / "benchmarks" / "eval_memory.json"
    if not path.exists():
        return []
    m = _load(path)
    rows = [[m[k]["source"], f"{m[k]['peak_rss_mib']:.0f}", f"{m[k]['wall_s']:.0f}"]
            for k in ("before", "after")]
    out = ["### Peak memory of an evaluation",
           markdown_table(["code", "peak RSS MiB", "wall s"], rows),
           f"{m['what']}; metrics identical: {m['summary_metrics_identical']}, TREC run "
           f"identical: {m['trec_run_files_identical']} (`benchmarks/bench_eval_memory.py`)."]
    corpus = m.get("miracl_bm25_generated_corpus")
    if corpus:
        out.append(f"MIRACL-style BM25 index of {corpus['n_passages']:,} generated passages: "
                   f"peak {corpus['list']['peak_rss_mib']:.0f} MiB from a list, "
                   f"{corpus['streamed']['peak_rss_mib']:.0f} MiB streamed.")
    return out


def _index_table(b: dict) -> list[str]:
    rows = []
    for r in b["indexes"]:
        params = ", ".join(f"{k} {v}" for k, v in r["params"].items() if v is not None)
        rows.append([r["kind"], params, f"{r['build_s']:.1f}", f"{r['rss_growth_mb']:.0f}",
                     f"{r['index_file_mb']:.0f}", f"{r['queries_per_s']:,.0f}",
                     f"{r['restricted_10pct_queries_per_s']:,.0f}",
                     f"{r['recall@10_vs_exact']:.3f}"])
    vectors = b.get("vectors", "random")
    if vectors == "clustered":
        vectors = f"clustered ({b['centers']:,} centres, spread {b['spread']:g})"
    out = [f"### {vectors.capitalize()} vectors",
           f"{b['n']:,} unit vectors of width {b['dim']} (the model's), {b['n_queries']:,} "
           f"queries from the same distribution, k = {b['k']}, faiss {b['faiss']} on "
           f"{b['faiss_threads']} threads ({b['machine']['cpu']}); `{b['command']}`. "
           f"{b['note'][0].upper()}{b['note'][1:]}.",
           markdown_table(["index", "parameters", "build s", "RAM growth MB", "file MB",
                           "queries/s", "queries/s, 10 % allowed", "recall@10 vs exact"], rows)]
    for r in b["indexes"]:
        if r.get("sweep"):
            knob = next(k for k in r["sweep"][0] if k not in ("recall@10_vs_exact",
                                                              "queries_per_s"))
            out += [f"{r['kind']}: the search-time `{knob}` against recall and speed",
                    markdown_table([knob, "recall@10", "queries/s"],
                                   [[str(p[knob]), f"{p['recall@10_vs_exact']:.3f}",
                                     f"{p['queries_per_s']:,.0f}"] for p in r["sweep"]])]
    return out


def index_section() -> list[str]:
    runs = [_load(RESULTS / "benchmarks" / name)
            for name in ("index.json", "index-clustered.json")
            if (RESULTS / "benchmarks" / name).exists()]
    if not runs:
        return []
    out = [f"## Vector indexes at {runs[0]['n']:,} vectors (`benchmarks/bench_index.py`)",
           "Queries/s with \"10 % allowed\": search restricted to every tenth id (a faiss ID "
           "selector, as babelir restricts a pooled index to one language)."]
    for run in runs:
        out += _index_table(run)
    encodings = [(run, "generated vectors (hash-seeded): the sharding pipeline alone")
                 for run in runs if run["encoding"]]
    model = RESULTS / "benchmarks" / "index-encode-model.json"
    if model.exists():
        encodings.append((_load(model), "the bundled multilingual-e5-small"))
    rows = [[f"{e['corpus_passages']:,}", f"{e.get('shard_size', 10_000):,}", what,
             f"{e['passages_per_s']:,.1f}", f"{e['peak_rss_mb']:,.0f}",
             f"{e['peak_minus_imports_mb']:,.1f}"]
            for run, what in encodings for e in run["encoding"]]
    growth = []
    for run, what in encodings:
        small, large = run["encoding"][0], run["encoding"][-1]
        extra = large["peak_rss_mb"] - small["peak_rss_mb"]
        growth.append(f"{what}: {large['corpus_passages'] / small['corpus_passages']:.0f}× the "
                      f"passages, peak {extra:+.1f} MB ({100 * extra / small['peak_rss_mb']:+.1f} %)")
    if rows:
        out += ["### Sharded encoding",
                "A generated MIRACL-format corpus (jsonl.gz, 20–120 words per passage) encoded "
                "to float16 shards, each corpus size in a fresh process (peak = the process's "
                "VmHWM). Growth of the peak from the smaller to the larger corpus — "
                + "; ".join(growth) + ".",
                markdown_table(["passages", "shard size", "encoder", "passages/s",
                                "peak RSS MB", "peak − after imports MB"], rows),
                "The model rows ran while a training run shared the 2 cores: their passages/s "
                "are not the model's speed alone."]
    return out


def translation_section() -> list[str]:
    path = RESULTS / "xquadr-mt" / "translation" / "manifest.json"
    if not path.exists():
        return []
    m = _load(path)
    rows = [[f"{m['source_lang']}→{lang}", v["pair_version"], f"{v['texts']:,}",
             f"{v['translated']:,}", "-" if v["sentences_per_second"] is None
             else f"{v['sentences_per_second']:,.0f}", str(v["failed_texts"]),
             f"{100 * v['flagged_text_share']:.2f} %"]
            for lang, v in m["languages"].items()]
    out = ["## Machine translation (Apertium)",
           f"`{m['source']}`: {m['examples']:,} QA examples, {m['texts']:,} distinct texts "
           f"(questions and context sentences); engine {m['engine']['name']} "
           f"{m['engine']['version']}; [manifest](xquadr-mt/translation/manifest.json). "
           "Measured on "
           "this project's 2-core machine, from an empty translation cache, while a training "
           "run shared the cores.",
           markdown_table(["direction", "pair", "texts", "translated", "sentences/s",
                           "failed", "flagged"], rows)]
    if (RESULTS / "xquadr-mt" / "COMPARISON.md").exists():
        out.append("Training with vs without these pairs: "
                   "[xquadr-mt/COMPARISON.md](xquadr-mt/COMPARISON.md).")
    return out


def main() -> None:
    parts = ["# babelir results",
             "Generated by `python benchmarks/make_results_page.py` from the JSON files in this "
             "folder; do not edit by hand."]
    for section in (zero_shot_section, trained_section, verification_section, tokenizer_section,
                    benchmark_section, encode_speed_section, precision_quality_section,
                    train_precision_section, eval_time_section, eval_memory_section,
                    index_section,
                    translation_section):
        parts += section()
    path = RESULTS / "README.md"
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
