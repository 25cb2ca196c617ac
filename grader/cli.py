"""The `grader` command line: run, stubs, fixtures."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_run(args) -> int:
    from grader import ASSIGNMENTS
    from grader.runner import grade_class, grade_submission, is_submission

    path = Path(args.path).resolve()
    if not path.is_dir():
        print(f"error: {path} is not a folder / 不是文件夹: give a submission folder (with qwen2_lora/ ...) "
              f"or a folder of submissions", file=sys.stderr)
        return 2
    _ensure_fixtures()
    out = Path(args.out).resolve()
    unknown = set(args.assignment or ()) - set(ASSIGNMENTS)
    if unknown:
        print(f"error: unknown assignment {sorted(unknown)}; choose from {', '.join(ASSIGNMENTS)}", file=sys.stderr)
        return 2
    assignments = tuple(args.assignment or ASSIGNMENTS)
    if is_submission(path):
        result = grade_submission(path, out, args.profile, assignments)
        print(f"{result.student}: {result.score:g}/{result.max_score:g} -> {out / 'report.html'}")
    else:
        results = grade_class(path, out, args.profile, assignments)
        if not results:
            print(f"error: no submissions in {path} / 没有找到提交", file=sys.stderr)
            return 2
        print(f"{len(results)} submissions graded -> {out / 'index.html'}, {out / 'grades.csv'}")
    return 0


def cmd_stubs(args) -> int:
    from grader import stubs

    if args.check:
        problems = stubs.drift()
        if problems:
            print("assignments/ has drifted from reference/ (run `grader stubs`):\n  " + "\n  ".join(problems))
            return 1
        print("assignments/ matches reference/")
        return 0
    for path in stubs.write():
        print(f"wrote {path}")
    return 0


def cmd_fixtures(args) -> int:
    from fixtures.build import build_all
    from grader.profiles import fixtures_dir

    build_all(Path(args.dest) if args.dest else fixtures_dir())
    return 0


def _ensure_fixtures() -> None:
    from fixtures.build import build_all
    from grader.profiles import fixtures_dir

    build_all(fixtures_dir())  # idempotent: a stamp check when already built


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="grader", description="Grade LLM course homework in a sandbox / 大模型课程作业自动评分")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="grade one submission folder or a folder of submissions")
    run.add_argument("path")
    run.add_argument("--out", default="reports", help="where reports go (default: reports/)")
    run.add_argument("--profile", default="cpu", help="grading profile (default: cpu)")
    run.add_argument("--assignment", action="append", help="grade only this assignment (repeatable)")
    run.set_defaults(func=cmd_run)
    stubs = sub.add_parser("stubs", help="generate assignments/ from reference/")
    stubs.add_argument("--check", action="store_true", help="only check that assignments/ is up to date")
    stubs.set_defaults(func=cmd_stubs)
    fx = sub.add_parser("fixtures", help="build the stand-in models and tokenizers")
    fx.add_argument("--dest")
    fx.set_defaults(func=cmd_fixtures)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
