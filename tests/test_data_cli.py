"""`babelir data build-pairs` and `babelir data mine-negatives` from the command line."""

from __future__ import annotations

import json

import pandas as pd

from babelir.cli import main
from babelir.data.pairs import load_pairs


def test_build_pairs_from_mlqa(data_dir, tmp_path, capsys):
    out = tmp_path / "pairs.parquet"
    assert main(["data", "build-pairs", "--source", "mlqa-test", "--languages", "de,es",
                 "--data-dir", str(data_dir), "--out", str(out)]) == 0
    pairs = load_pairs(out)
    assert set(pairs["lang"]) == {"de", "es"}
    both = pairs.pivot_table(index="example_id", columns="lang", values="passage",
                             aggfunc="count")
    assert (both.fillna(0) > 0).all(axis=1).sum() == 1776  # de-es ids, as in the data README
    assert '"rows"' in capsys.readouterr().out
    assert (tmp_path / "pairs.summary.json").is_file()


def test_jsonl_source_then_mined_negatives(data_dir, tmp_path):
    rows = [{"id": f"e{i}", "lang": lang, "question": f"question {i} {topic}",
             "passage": f"{topic} passage number {i} about {topic} things"}
            for i, topic in enumerate(["cats", "dogs", "cats and dogs", "trains", "ships"])
            for lang in ("en", "de")]
    source = tmp_path / "mine.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pairs = tmp_path / "pairs.parquet"
    assert main(["data", "build-pairs", "--source", f"jsonl:{source}", "--dev-fraction", "0",
                 "--data-dir", str(data_dir), "--out", str(pairs)]) == 0
    mined = tmp_path / "mined.parquet"
    assert main(["data", "mine-negatives", "--pairs", str(pairs), "--out", str(mined),
                 "--top-k", "1"]) == 0
    frame = pd.read_parquet(mined)
    cats = frame[(frame["example_id"] == "e0") & (frame["lang"] == "en")].iloc[0]
    assert "cats" in cats["negative"] and cats["negative"] != cats["passage"]
    assert (frame["negative"] != frame["passage"]).all()


def test_a_users_file_at_out_is_never_replaced(data_dir, tmp_path, capsys):
    """build-pairs and mine-negatives replace only files babelir wrote (Parquet metadata
    key): a user's file at --out, or at the summary's place, stops them with exit 2."""
    rows = [{"id": f"e{i}", "lang": lang, "question": f"question {i}", "passage": f"passage {i}"}
            for i in range(4) for lang in ("en", "de")]
    source = tmp_path / "src.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pairs = tmp_path / "pairs.parquet"

    def build() -> int:
        return main(["data", "build-pairs", "--source", f"jsonl:{source}", "--dev-fraction",
                     "0", "--data-dir", str(data_dir), "--out", str(pairs)])

    pairs.write_text("my own notes")
    assert build() == 2
    err = capsys.readouterr().err
    assert f"{pairs} exists and babelir did not write it" in err and "Traceback" not in err
    assert pairs.read_text() == "my own notes"
    pairs.unlink()
    summary = tmp_path / "pairs.summary.json"
    summary.write_text('{"mine": 1}')
    assert build() == 2 and not pairs.exists() and summary.read_text() == '{"mine": 1}'
    summary.unlink()
    assert build() == 0 and build() == 0  # its own output: replaced
    theirs = tmp_path / "theirs.parquet"
    pd.DataFrame({"score": [1.0, 2.0]}).to_parquet(theirs)  # Parquet, but not babelir's
    assert main(["data", "mine-negatives", "--pairs", str(pairs), "--out", str(theirs),
                 "--top-k", "1"]) == 2
    assert "babelir did not write it" in capsys.readouterr().err
    assert pd.read_parquet(theirs)["score"].tolist() == [1.0, 2.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "pairs.parquet", "pairs.summary.json", "src.jsonl", "theirs.parquet"]
