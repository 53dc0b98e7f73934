"""``babelir publish``: push a trained model to the Hugging Face Hub with its card.

``publish(path, repo_id)`` takes a training run folder (its model is ``final/``) or a model
folder. For a run it first rewrites the model card (``training.card``) with the run's
evaluation results (``results.json`` of ``babelir eval``: given, or found beside the run) and
the Hub id in its usage snippet; a model folder saved by an older babelir gets its "no
pooler" setting (``models.registry.declare_no_pooler``) so it loads without warnings. Then
the repository is created if needed and the model folder is uploaded (``HfApi.upload_folder``;
the token is huggingface_hub's usual one unless ``token`` is given). babelir's own
bookkeeping files stay behind.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from babelir.errors import BabelirError
from babelir.io import MARKER

#: files of a model folder that are babelir's bookkeeping, not the model's
NOT_UPLOADED = [MARKER]


def model_and_run(path: str | Path) -> tuple[Path, Path | None]:
    """(model folder, run folder or None) of a run folder or a model folder."""
    path = Path(path)
    if (path / "final" / "modules.json").is_file():
        return path / "final", path
    if (path / "modules.json").is_file():
        run = path.parent if (path.parent / "config.yaml").is_file() else None
        return path, run
    raise BabelirError(f"{path} is neither a babelir run folder (with final/) nor a "
                       "sentence-transformers model folder (with modules.json)")


def publish(path: str | Path, repo_id: str, token: str | None = None,
            private: bool | None = None, results: Iterable[str | Path] = (),
            license: str | None = None, commit_message: str | None = None):
    """Upload a trained model and its card to the Hub repository ``repo_id`` (created if
    missing); returns huggingface_hub's ``CommitInfo``."""
    from huggingface_hub import HfApi

    from babelir.models.registry import declare_no_pooler

    if repo_id.count("/") != 1:
        raise BabelirError(f"repo id must be 'owner/name', got {repo_id!r}")
    model_dir, run_dir = model_and_run(path)
    declare_no_pooler(model_dir)
    if run_dir is not None:
        from babelir.training.card import write_model_card

        write_model_card(model_dir, run_dir, results=results, model_id=repo_id,
                         license=license)
    elif not (model_dir / "README.md").is_file():
        raise BabelirError(f"{model_dir} has no model card and no run folder to write one "
                           "from; pass the run folder")
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    return api.upload_folder(repo_id=repo_id, folder_path=str(model_dir), repo_type="model",
                             commit_message=commit_message or f"babelir: {model_dir.name}",
                             ignore_patterns=NOT_UPLOADED)


def add_publish_parser(sub) -> None:
    p = sub.add_parser("publish", help="push a trained model and its model card (training "
                                       "record, evaluation results) to the Hugging Face Hub")
    p.add_argument("path", metavar="RUN_DIR",
                   help="a `babelir train` run folder (its final/ model is uploaded) or a "
                        "model folder")
    p.add_argument("--repo-id", required=True, help="Hub repository, owner/name")
    p.add_argument("--results", action="append", default=[], metavar="RESULTS_JSON",
                   help="results.json of `babelir eval` for the card (repeatable; default: "
                        "eval-*/ and eval/*/ in the run folder)")
    p.add_argument("--token", help="Hub token (default: huggingface_hub's login or $HF_TOKEN)")
    p.add_argument("--private", action="store_true", default=None,
                   help="create the repository private")
    p.add_argument("--license", help="licence identifier for the card, e.g. mit")
    p.set_defaults(handler=run_publish_command)


def run_publish_command(args: argparse.Namespace) -> int:
    info = publish(args.path, args.repo_id, token=args.token, private=args.private,
                   results=args.results, license=args.license)
    print(f"published {args.repo_id}: {getattr(info, 'commit_url', info)}")
    return 0
