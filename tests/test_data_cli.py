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
