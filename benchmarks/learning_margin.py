"""How far the fine-tuning assignments' learning rules are from each verdict (issue 28): grade the honest
corpus's entries (correct work, which must pass) and the broken submissions that exist to fail the rule,
and print, for each, the losses the checks measured and the rule they were held to.

    .venv/bin/python benchmarks/learning_margin.py [--assignment qwen2_lora] [--assignment minicpm_deepspeed]

The rules (grader/judge/finetune.py): the judge's own loss with the student's weights must fall below
LEARNED x the base model's; the logged curve's last three values below FALLS x its first three. A ratio
is measured / base; the margin is the rule minus the ratio (positive: passes, by that much; negative:
misses). Graded one after another through the real runner, as tests/test_honest_corpus.py does.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.assignments.qwen2_lora.test_qwen2_lora import BROKEN  # noqa: E402
from tests.conftest import corpus, grade, honest_entry, honest_submission, make_submission  # noqa: E402

FINE_TUNING = ("qwen2_lora", "minicpm_deepspeed")
# the broken submission whose bug is that nothing is learned, where the judge gets to measure it:
# minicpm_deepspeed's (lora_never_trains) ends its LoRA launch before any loss is measured
NOT_LEARNING = {"qwen2_lora": BROKEN["test_training_loss_falls"][1]}


def submissions(assignment: str, root: Path):
    """(label, expected to pass the rule, builder) for the honest entries and the not-learning bug."""
    for name in sorted(corpus("honest")):
        if honest_entry(name)["assignment"] == assignment:
            yield f"honest {name}", True, lambda name=name: honest_submission(name, root / name)
    if assignment in NOT_LEARNING:
        yield "broken: nothing learned", False, lambda: make_submission(root / "broken", assignment=assignment,
                                                                       patches=NOT_LEARNING[assignment])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", action="append", choices=FINE_TUNING, help="default: both")
    args = parser.parse_args()
    for assignment in args.assignment or FINE_TUNING:
        print(f"== {assignment}", flush=True)
        worst = {True: None, False: None}
        with tempfile.TemporaryDirectory(prefix="margin-") as tmp:
            for label, should_pass, build in submissions(assignment, Path(tmp)):
                started = time.perf_counter()
                result, _checks = grade(build(), Path(tmp) / f"out-{len(label)}-{time.time_ns()}", assignment)
                measured = result.assignments[0].timings.get("measured", {})
                print(f"{label} ({time.perf_counter() - started:.0f} s, score {result.score:g})", flush=True)
                for rule, m in sorted(measured.items()):
                    if m.get("ratio") is None:
                        continue
                    margin = m["rule"] - m["ratio"]
                    numbers = (f"{m['before']:.3f} -> {m['after']:.3f}" if "before" in m
                               else f"{m['first']:.3f} -> {m['last']:.3f}")
                    print(f"  {rule}: {numbers}, ratio {m['ratio']:.3f}, rule < {m['rule']}, margin {margin:+.3f}")
                    if worst[should_pass] is None or (margin < worst[should_pass][0]) == should_pass:
                        worst[should_pass] = (margin, label, rule)
        for should_pass, found in worst.items():
            if found:
                what = "smallest margin of correct work" if should_pass else "closest a broken one came"
                print(f"{assignment}: {what}: {found[0]:+.3f} ({found[1]}, {found[2]})")


if __name__ == "__main__":
    main()
