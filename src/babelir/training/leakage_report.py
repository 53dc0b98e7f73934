"""The leakage guard's report: what each check compared and found, as JSON, and the rule
that stops a run on an overlap (``enforce``).

``babelir.training.leakage.check_leakage`` fills a ``LeakageReport``; ``write_report`` saves
it beside the run; ``enforce`` raises unless the report is clean or ``--allow-leakage``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from babelir.errors import BabelirError
from babelir.io import write_json

MIN_SENTENCE_CHARS = 30
NORMALISATION = ("Unicode NFKC, casefold, BOM/zero-width space/word joiner/soft hyphen "
                 "dropped, whitespace collapsed, ends stripped")


@dataclass
class CheckResult:
    """One check: what was compared, what matched, examples."""

    name: str
    checked: bool
    reason: str = ""  # what was compared, or why it could not be
    total: int = 0  # benchmark items compared
    matched: int = 0  # benchmark items found in the training data
    training_rows: int = 0  # training rows holding a matching value
    by_lang: dict[str, dict[str, int]] = field(default_factory=dict)  # {"matched", "total"}
    examples: list[dict] = field(default_factory=list)

    @property
    def leaks(self) -> bool:
        return self.checked and self.matched > 0


@dataclass
class LeakageReport:
    """Overlap of a training table with one evaluation benchmark (JSON via ``to_dict``)."""

    benchmark: str
    clean: bool  # no check found an overlap (see ``checked`` / ``not_checked``)
    checked: bool  # at least one check could run
    training_rows: int
    training_datasets: dict[str, int]
    benchmark_languages: list[str]
    missing_languages: dict[str, str]  # benchmark language -> why it was not compared
    benchmark_files: dict[str, str]
    checks: dict[str, CheckResult]
    normalisation: str = NORMALISATION
    min_sentence_chars: int = MIN_SENTENCE_CHARS
    seconds: float = 0.0

    @property
    def not_checked(self) -> dict[str, str]:
        """Check name -> reason, for the checks that could not run."""
        return {name: c.reason for name, c in self.checks.items() if not c.checked}

    @property
    def verdict(self) -> str:
        """``leak``, ``clean`` or ``unchecked`` (nothing could be compared)."""
        if not self.clean:
            return "leak"
        return "clean" if self.checked else "unchecked"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["checks"] = {name: {**asdict(c), "leaks": c.leaks} for name, c in self.checks.items()}
        out["not_checked"] = self.not_checked
        out["verdict"] = self.verdict
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "LeakageReport":
        checks = {name: CheckResult(**{k: v for k, v in c.items() if k != "leaks"})
                  for name, c in data["checks"].items()}
        skip = {"checks", "not_checked", "verdict"}
        return cls(checks=checks, **{k: v for k, v in data.items() if k not in skip})

    def summary(self) -> str:
        """One line per check, e.g. ``questions: 658 of 799 (en 658/799)``."""
        lines = [f"leakage check against {self.benchmark}: {self.verdict}"]
        for name, c in self.checks.items():
            if not c.checked:
                lines.append(f"  {name}: not checked ({c.reason})")
                continue
            langs = ", ".join(f"{lang} {v['matched']}/{v['total']}"
                              for lang, v in c.by_lang.items() if v["matched"])
            lines.append(f"  {name}: {c.matched:,} of {c.total:,} benchmark items in "
                         f"{c.training_rows:,} training rows" + (f" ({langs})" if langs else ""))
        return "\n".join(lines)


def _example_text(example: dict) -> str:
    t = example["training"]
    what = f" {example['text']!r}" if "text" in example else ""
    return (f"{example['benchmark_lang']} {example['benchmark_id']}{what} = training "
            f"{t['dataset']}/{t['example_id']}/{t['lang']}")


def enforce(report: LeakageReport, allow_leakage: bool) -> None:
    """Raise a BabelirError when the report found an overlap and leakage is not allowed.

    An unchecked report (benchmark files missing) passes: its ``not_checked`` says why.
    """
    if report.clean or allow_leakage:
        return
    found = [c for c in report.checks.values() if c.leaks]
    counts = "; ".join(f"{c.matched:,} of {c.total:,} benchmark {c.name} in "
                       f"{c.training_rows:,} training rows" for c in found)
    examples = [f"  {c.name}: {_example_text(e)}" for c in found for e in c.examples[:2]]
    raise BabelirError(
        f"the training data overlaps the {report.benchmark} evaluation benchmark "
        f"({counts}); for example:\n" + "\n".join(examples)
        + "\nRemove those examples (`babelir data build-pairs ... --drop-overlap "
        f"{report.benchmark}`; see the data README, section 2), or pass "
        "--allow-leakage to train anyway")


def write_report(report: LeakageReport, path: Path) -> None:
    """Write the report as JSON, atomically."""
    write_json(path, report.to_dict())
