"""Never lose a user's files (P7): output folders are replaced only when babelir wrote them,
index folders never mix models, and checkpoints load no code and resume only the same run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from babelir import io
from babelir.cli import build_parser, main
from babelir.errors import BabelirError
from babelir.io import MARKER, atomic_dir, check_output_folder, clean_stale, output_lock
from babelir.settings import cache_dir

EVAL = ["eval", "--model", "bm25", "--benchmark", "xquad-r", "--languages", "en,de",
        "--max-articles", "2"]


def _eval(data_dir, out) -> int:
    return main([*EVAL, "--data-dir", str(data_dir), "--out", str(out)])


# ---------------------------------------------------------------------- output folders
def test_eval_refuses_a_folder_holding_a_users_file(data_dir, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    result = subprocess.run([sys.executable, "-m", "babelir", *EVAL, "--data-dir", str(data_dir),
                             "--out", str(out)], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "is not a babelir output folder" in result.stderr and str(out) in result.stderr
    assert "Traceback" not in result.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "my notes"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # no temporary folder left


def test_rerun_replaces_its_own_output_only(data_dir, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert _eval(data_dir, runs / "a") == 0
    summary = (runs / "a" / "summary.json").read_text()
    listed = json.loads((runs / "a" / MARKER).read_text())["files"]
    assert "summary.json" in listed and "per_query.npz" in listed
    (runs / "a" / "summary.json").write_text("{}")  # babelir's own file: replaced
    assert _eval(data_dir, runs / "a") == 0
    assert (runs / "a" / "summary.json").read_text() == summary
    # the folder of runs is not a run: refused, the run inside it kept
    assert _eval(data_dir, runs) == 2
    assert "is not a babelir output folder" in capsys.readouterr().err
    assert sorted(p.name for p in runs.iterdir()) == ["a"]
    # a file the user put into a run folder blocks its replacement
    (runs / "a" / "my-analysis.ipynb").write_text("{}")
    assert _eval(data_dir, runs / "a") == 2
    assert "my-analysis.ipynb" in capsys.readouterr().err
    assert (runs / "a" / "my-analysis.ipynb").read_text() == "{}"
    assert (runs / "a" / "summary.json").read_text() == summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    assert sorted(p.name for p in runs.iterdir()) == ["a"]


def test_eval_out_dot_is_refused(data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("k")
    assert main([*EVAL, "--data-dir", str(data_dir), "--out", "."]) == 2
    err = capsys.readouterr().err
    assert "refusing to write an output folder at ." in err and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    assert not list(tmp_path.parent.glob(f".{tmp_path.name}.*"))


@pytest.mark.parametrize("where", [".", "..", "cwd", "parent", "home", "root", "sub/.."])
def test_protected_folders_are_refused(tmp_path, monkeypatch, where):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work)
    path = {"cwd": str(work), "parent": str(tmp_path), "home": str(Path.home()),
            "root": "/"}.get(where, where)
    with pytest.raises(BabelirError, match="refusing to write an output folder"):
        with atomic_dir(path) as tmp:
            (tmp / "x").write_text("x")
    assert sorted(p.name for p in work.iterdir()) == ["sub"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_a_file_or_a_link_is_never_replaced(tmp_path):
    (tmp_path / "results").write_text("a user's file")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    for name, message in (("results", "is a file"), ("link", "symbolic link")):
        with pytest.raises(BabelirError, match=message):
            with atomic_dir(tmp_path / name):
                pass
    assert (tmp_path / "results").read_text() == "a user's file"
    assert (tmp_path / "link").is_symlink()
    # an empty folder may be replaced
    (tmp_path / "empty").mkdir()
    with atomic_dir(tmp_path / "empty") as tmp:
        (tmp / "a.txt").write_text("new")
    assert (tmp_path / "empty" / "a.txt").read_text() == "new"


def _writer(final: Path, tag: str, barrier: threading.Barrier, errors: list) -> None:
    try:
        for _round in range(3):
            with atomic_dir(final) as tmp:
                for j in range(20):
                    (tmp / f"part{j}.txt").write_text(tag)
                barrier.wait(timeout=60)  # every writer is inside at once, then all swap
    except Exception as exc:  # noqa: BLE001 - reported by the assertion below
        errors.append(exc)


def _complete(final: Path) -> set[str]:
    assert sorted(p.name for p in final.iterdir()) == sorted(
        [MARKER] + [f"part{j}.txt" for j in range(20)])
    return {(final / f"part{j}.txt").read_text() for j in range(20)}


def test_concurrent_writers_in_threads(tmp_path):
    final = tmp_path / "out"
    barrier, errors = threading.Barrier(4), []
    threads = [threading.Thread(target=_writer, args=(final, str(i), barrier, errors))
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(_complete(final)) == 1  # one writer's folder, whole
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no tmp, old or lock left


WRITER = """
import sys, time
from pathlib import Path
from babelir.io import atomic_dir
final, tag, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
with atomic_dir(final) as tmp:
    for j in range(20):
        (tmp / f"part{j}.txt").write_text(tag)
    time.sleep(max(0.0, start - time.time()))  # both processes swap at the same moment
"""


@pytest.mark.slow  # new Python processes
def test_concurrent_writers_in_processes(tmp_path):
    final = tmp_path / "out"
    start = time.time() + 4
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(final), tag, str(start)],
                              stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    assert _complete(final) in ({"a"}, {"b"})
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _leftover(parent: Path, name: str, marked: bool = False) -> Path:
    path = parent / name
    path.mkdir()
    (path / "results.json").write_text("{}")
    if marked:
        (path / MARKER).write_text("{}")
    return path


def test_stale_leftovers_of_a_killed_writer_are_cleaned(tmp_path):
    host, dead = io._host_tag(), _dead_pid()
    stale_tmp = _leftover(tmp_path, f".out.tmp-{host}-{dead}-0000aaaa")
    stale_old = _leftover(tmp_path, f".out.old-{host}-{dead}-0000bbbb", marked=True)
    ancient = _leftover(tmp_path, ".out.tmp-k2j4_x9a")  # an older babelir's name: by age
    users = _leftover(tmp_path, ".out.tmp-my-notes")  # not a name babelir makes: never
    for old in (ancient, users):
        os.utime(old, (time.time() - 3 * 86400,) * 2)
    recent = _leftover(tmp_path, ".out.tmp-q8w1_z3b")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        running = _leftover(tmp_path, f".out.tmp-{host}-{alive.pid}-0000cccc")
        with atomic_dir(tmp_path / "out") as tmp:
            (tmp / "a.txt").write_text("new")
        assert (tmp_path / "out" / "a.txt").read_text() == "new"
        assert not stale_tmp.exists() and not stale_old.exists() and not ancient.exists()
        assert running.exists() and recent.exists()  # another writer's, still at work
        assert (users / "results.json").is_file()
    finally:
        alive.kill()
        alive.wait()


def test_a_swap_killed_halfway_is_undone(tmp_path):
    """Killed between moving the old output aside and moving the new one in: the old one is
    put back (the new one was never complete to a reader)."""
    host, dead = io._host_tag(), _dead_pid()
    _leftover(tmp_path, f".out.old-{host}-{dead}-0000aaaa", marked=True)
    _leftover(tmp_path, f".out.tmp-{host}-{dead}-0000bbbb")
    with output_lock(tmp_path / "out"):
        clean_stale(tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (tmp_path / "out" / "results.json").is_file()


def test_check_output_folder_reads_the_marker(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.txt").write_text("a")
    check_output_folder(out)
    (out / "sub" / "b.txt").write_text("the user's")
    with pytest.raises(BabelirError, match="sub/b.txt"):
        check_output_folder(out)


# ---------------------------------------------------------------------- index folders
@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """The tiny test model, and a copy with other weights (another model, same shape)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from babelir.models.tiny import build_tiny_model

    first = cache_dir() / "test-models" / "tiny-seed0-h32"
    if not (first / "modules.json").is_file():
        build_tiny_model(first, cache_dir())
    second = tmp_path_factory.mktemp("models") / "tiny-other"
    shutil.copytree(first, second)
    with safe_open(str(second / "model.safetensors"), "pt") as fh:
        metadata = fh.metadata()
        weights = {k: fh.get_tensor(k) for k in fh.keys()}
    generator = torch.Generator().manual_seed(1)
    save_file({k: v + 0.1 * torch.randn(v.shape, generator=generator)
               for k, v in weights.items()}, str(second / "model.safetensors"), metadata)
    return first, second


def _encoder(model: Path):
    from babelir.models.registry import resolve_model
    from babelir.retrieval.dense import DenseEncoder

    return DenseEncoder(resolve_model(str(model), cache_dir()), max_length=32, batch_size=16,
                        device="cpu", backend="torch")


def _build(corpus: Path, out: Path, encoder, model: Path, **options):
    from babelir.retrieval.corpus_index import encoder_identity
    from babelir.retrieval.index import build_corpus_index, embedding_key

    return build_corpus_index(corpus, out, lambda t: encoder.encode(t, "passage"),
                              key=embedding_key(encoder), progress=False, dtype="float32",
                              meta={"model": str(model), "max_length": 32},
                              identity=encoder_identity(encoder, str(model)), **options)


def _vectors(out: Path) -> np.ndarray:
    from babelir.retrieval.sharded import ShardedEmbeddings

    return ShardedEmbeddings(out / "embeddings").to_array()


def test_index_folder_keeps_to_one_model(two_models, tmp_path, capsys):
    first, second = two_models
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"docid": f"{i}#0", "title": "T",
                                          "text": f"Habari ya leo namba {i}"}) + "\n"
                              for i in range(24)))
    out = tmp_path / "idx"
    one = _encoder(first)
    _build(corpus, out, one, first)
    _build(corpus, out, one, first, kind="hnsw", params={"M": 8})
    before = _vectors(out)
    build = ["index", "build", "--corpus", str(corpus), "--out", str(out), "--max-length", "32",
             "--device", "cpu", "--dtype", "float32"]
    # another model into the same folder: refused, naming what differs; nothing changes
    assert main([*build, "--model", str(second)]) == 2
    err = capsys.readouterr().err
    assert "model_fingerprint" in err and "--overwrite" in err and "Traceback" not in err
    np.testing.assert_array_equal(_vectors(out), before)
    # the same model with other index parameters: refused too
    with pytest.raises(BabelirError, match=r"other parameters \(M: 8 -> 16\)"):
        _build(corpus, out, one, first, kind="hnsw", params={"M": 16})
    # --overwrite: rebuilt from the other model, the old model's indexes gone with it
    assert build_parser().parse_args([*build, "--overwrite"]).overwrite is True
    two = _encoder(second)
    _build(corpus, out, two, second, overwrite=True)
    record = json.loads((out / "corpus-index.json").read_text())
    assert record["identity"]["model_fingerprint"] == two.fingerprint != one.fingerprint
    assert not (out / "hnsw").exists() and (out / "exact" / "index.json").is_file()
    texts = [f"T Habari ya leo namba {i}" for i in range(24)]
    np.testing.assert_allclose(_vectors(out), two.encode(texts, "passage"), atol=1e-5)
    assert not np.allclose(_vectors(out), before, atol=1e-3)
    # queries from another model than the index's: refused
    assert main(["search", "--index", str(out), "--query", "habari", "--model", str(first),
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "differs" in err and "model_fingerprint" in err
    # a folder of the user's is no index folder
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("n")
    assert main([*build[:5], str(mine), *build[6:], "--model", str(first)]) == 2
    assert "not a babelir output folder" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


# ---------------------------------------------------------------------- checkpoints
class _RunsCode:
    """Unpickling this (with a full unpickler) creates ``path``: a stand-in for any code."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _config(pairs_file, data_dir, out, **overrides):
    from babelir.training.config import load_config

    values = dict(pairs=str(pairs_file), out=str(out),
                  model=str(cache_dir() / "test-models" / "tiny-seed0-h32"), batch_size=8,
                  steps=4, eval_every=0, save_every=1, max_length=32, learning_rate=1e-3,
                  data_dir=str(data_dir), device="cpu", select_best=False,
                  select_on="dev_loss", merge=1.0)
    values.update(overrides)
    return load_config(None, values)


@pytest.fixture(scope="module")
def stopped_run(two_models, pairs_file, data_dir, tmp_path_factory):
    """A run stopped after step 2 of 4: checkpoints step-1 and step-2."""
    from babelir.training.run import train

    out = tmp_path_factory.mktemp("train") / "run"
    train(_config(pairs_file, data_dir, out, stop_after=2))
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def _snapshot(run: Path) -> dict:
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file()}


def test_a_planted_pickle_runs_no_code(stopped_run, tmp_path):
    from babelir.training.checkpoint import (MANIFEST, STATE_FILE, _manifest, latest_checkpoint,
                                             read_checkpoint)

    run = _copy(stopped_run, tmp_path)
    step = run / "checkpoints" / "step-0000002"
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == [
        "step-0000001", "step-0000002"]  # the last two are kept
    assert read_checkpoint(step)[1]["step"] == 2  # the real state reads as plain data
    canary = tmp_path / "code-ran"
    torch.save({"format": 2, "step": 2, "payload": _RunsCode(canary)}, step / STATE_FILE)
    manifest = json.loads((step / MANIFEST).read_text())  # as if the digests were forged too
    manifest["files"] = _manifest(step)
    (step / MANIFEST).write_text(json.dumps(manifest))
    assert latest_checkpoint(run / "checkpoints") == step
    with pytest.raises(BabelirError, match="weights_only"):
        read_checkpoint(step)
    assert not canary.exists()
    torch.load(step / STATE_FILE, weights_only=False)  # what the old loader did: it runs
    assert canary.exists()


def test_a_damaged_checkpoint_falls_back_to_the_one_before(stopped_run, pairs_file, data_dir,
                                                           tmp_path, capsys):
    from babelir.training.checkpoint import STATE_FILE, latest_checkpoint, read_checkpoint
    from babelir.training.run import train

    run = _copy(stopped_run, tmp_path)
    newest, previous = run / "checkpoints" / "step-0000002", run / "checkpoints" / "step-0000001"
    state = (newest / STATE_FILE).read_bytes()
    (newest / STATE_FILE).write_bytes(state[: len(state) // 2])
    with pytest.raises(BabelirError, match=f"{newest / STATE_FILE}.*truncated"):
        read_checkpoint(newest)
    assert latest_checkpoint(run / "checkpoints") == previous
    flipped = bytearray(state)
    flipped[len(flipped) // 2] ^= 0xFF  # same size, other bytes: caught by the digest
    (newest / STATE_FILE).write_bytes(bytes(flipped))
    with pytest.raises(BabelirError, match="SHA-256"):
        read_checkpoint(newest)
    final = train(_config(pairs_file, data_dir, run), resume=True)
    assert "skipping checkpoint" in capsys.readouterr().err
    log = [json.loads(x)["step"] for x in (run / "train_log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3, 4] and (final / "model.safetensors").is_file()
    assert len(json.loads((run / "run.json").read_text())["resumed"]) == 1
    # every checkpoint damaged: a clear error, through the CLI too
    other = _copy(stopped_run, tmp_path / "b")
    for step in (other / "checkpoints").iterdir():
        (step / STATE_FILE).write_bytes(b"")
    assert main(["train", "--resume", "--pairs", str(pairs_file), "--out", str(other),
                 "--model", str(cache_dir() / "test-models" / "tiny-seed0-h32"),
                 "--batch-size", "8", "--steps", "4", "--eval-every", "0", "--save-every", "1",
                 "--max-length", "32", "--learning-rate", "0.001", "--data-dir", str(data_dir),
                 "--device", "cpu", "--no-select-best", "--select-on", "dev_loss",
                 "--merge", "1"]) == 2
    assert "no intact checkpoint" in capsys.readouterr().err


def test_resume_with_other_settings_is_refused_before_writing(stopped_run, pairs_file,
                                                               data_dir, tmp_path):
    from babelir.training.run import train

    run = _copy(stopped_run, tmp_path)
    before = _snapshot(run)
    with pytest.raises(BabelirError, match="learning_rate: 0.001 in the run, 0.0005 now"):
        train(_config(pairs_file, data_dir, run, learning_rate=5e-4), resume=True)
    assert _snapshot(run) == before
    # other pairs (same path, other content): refused as well
    changed = tmp_path / "pairs.parquet"
    import pandas as pd

    pd.read_parquet(pairs_file).iloc[:-1].to_parquet(changed)
    with pytest.raises(BabelirError, match="pairs_sha256"):
        train(_config(changed, data_dir, run), resume=True)
    # a new run over the checkpoints of an earlier one: refused (pass --resume)
    with pytest.raises(BabelirError, match="holds checkpoints.*--resume"):
        train(_config(pairs_file, data_dir, run))
    assert _snapshot(run) == before
    # and a folder of the user's is not a run folder
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("mine: 1\n")
    with pytest.raises(BabelirError, match="not a babelir output folder"):
        train(_config(pairs_file, data_dir, mine))
    assert (mine / "config.yaml").read_text() == "mine: 1\n"
