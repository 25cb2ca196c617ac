"""The `grader` command line: run (one student or a class), check (students), validate (course
authors), gradescope-bundle, stubs, fixtures, needs; for the staff's week after a class run: grades
(the gradebook in Canvas's or Moodle's layout), similarity, publish site and publish canvas. The assignments are the declared ones
(grader/assignments.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _assignments(args) -> tuple[str, ...] | None:
    from grader import assignments

    known = assignments.names()
    unknown = set(args.assignment or ()) - set(known)
    if unknown:
        print(f"error: unknown assignment {sorted(unknown)}; choose from {', '.join(known)} / 未知作业",
              file=sys.stderr)
        return None
    chosen = tuple(a for a in known if a in args.assignment) if args.assignment else known
    profile = getattr(args, "profile", "cpu")
    cannot = [a for a in chosen if profile not in assignments.get(a).grading]
    if cannot:
        print(f"error: {', '.join(cannot)} cannot be graded under the profile {profile!r} (its declaration, "
              f"grader/checks/<name>/assignment.py, names the profiles it supports) / 该作业不支持此评分配置",
              file=sys.stderr)
        return None
    return chosen


def _profile_ready(args, assignments: tuple[str, ...]) -> bool:
    """Under a GPU profile every model the assignments load must be in the cache, and a GPU visible,
    before any grading starts (else each student would fail the same way); the error names the fix."""
    from grader import assignments as registry
    from grader.classrun import visible_gpus
    from grader.profiles import ModelNotFound, get_profile

    profile = get_profile(args.profile)
    if profile.device == "cpu":
        return True
    try:
        for name in assignments:
            for model_id in registry.get(name).models:
                profile.model(model_id)
    except ModelNotFound as exc:
        print(exc, file=sys.stderr)
        return False
    if not visible_gpus():
        print(f"error: the {profile.name} profile needs a GPU and none is visible (nvidia-smi, CUDA_VISIBLE_DEVICES) "
              f"/ 此评分配置需要 GPU", file=sys.stderr)
        return False
    return True


def _sandbox_ready(args, isolating: bool) -> bool:
    """Resolve the sandbox mode once for this run and every child of it (GRADER_SANDBOX): the one
    asked for by name (--sandbox, or GRADER_SANDBOX), else the strongest that works here. ``isolating``
    (grader run): the process mode only when asked for by name. False after printing why not."""
    from grader.isolation import SandboxUnavailable, doctor, require_mode

    from grader.settings import current

    asked = None if args.sandbox == "auto" else args.sandbox
    asked = asked or current().sandbox
    try:
        mode = require_mode(asked)
    except SandboxUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    if mode == "process" and not asked and isolating:
        reasons = "; ".join(f"{c.mode}: {c.said} (fix: {c.fix})" for c in doctor() if not c.works)
        print(f"error: no sandbox that isolates student code works here ({reasons}). Grade without isolation "
              f"only trusted code, by asking for it: --sandbox process / 没有可用的隔离沙箱", file=sys.stderr)
        return False
    if mode == "process":
        print("warning: sandbox: process mode, no filesystem or network isolation (install bubblewrap; "
              "`grader doctor` says why the others do not work) / 弱隔离：无文件系统与网络隔离", file=sys.stderr)
    return True


def _policy(args):
    """The course policy named by --course, or None after printing why it cannot be used."""
    from grader.course import CourseError, CoursePolicy, load_policy

    try:
        return load_policy(Path(args.course)) if args.course else CoursePolicy()
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _holds_code(path: Path) -> bool:
    """Python files at the top: one assignment's folder, not a class of student folders."""
    return any(p.suffix == ".py" and p.is_file() for p in path.iterdir())


def one_submission(path: Path, assignments: tuple[str, ...], scratch: Path) -> Path | None:
    """A submission root (a folder holding <assignment>/ folders) for ``path``, which may also be
    one assignment's own folder (train.py at its top: a Gradescope upload, a student's work folder).
    Such a folder is copied under scratch/<name>/<assignment>/."""
    import shutil
    from grader.runner import is_submission

    if is_submission(path):
        return path
    if len(assignments) != 1 or not _holds_code(path):   # a class folder holds student folders, no code
        return None
    root = scratch / (path.name if path.name not in assignments else "submission")
    shutil.copytree(path, root / assignments[0], symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".git"))
    return root


def cmd_run(args) -> int:
    import tempfile
    from grader.classrun import ClassRunError, find_students, grade_class, make_executor
    from grader.profiles import get_profile
    from grader.runner import grade_submission
    from grader.sandbox import SandboxFailure

    path = Path(args.path).resolve()
    if not path.is_dir():
        print(f"error: {path} is not a folder / 不是文件夹: give a submission folder (with qwen2_lora/ ...) "
              f"or a folder of submissions", file=sys.stderr)
        return 2
    assignments, policy = _assignments(args), _policy(args)
    if assignments is None or policy is None:
        return 2
    _ensure_fixtures(assignments)
    if not _profile_ready(args, assignments) or not _sandbox_ready(args, isolating=True):
        return 2
    out = Path(args.out).resolve()
    metadata = Path(args.metadata) if args.metadata else None
    with tempfile.TemporaryDirectory(prefix="grader-upload-") as scratch:
        single = one_submission(path, assignments, Path(scratch))
        if single is not None and args.only:
            print(f"error: --only regrades students of a class run; {path} is one submission / --only 用于班级评分",
                  file=sys.stderr)
            return 2
        if single is not None:
            try:
                result = grade_submission(single, out, args.profile, assignments, policy=policy, metadata=metadata)
            except SandboxFailure as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 3
            print(f"{result.student}: {result.score:g}/{result.max_score:g} -> {out / 'report.html'}")
            if result.needs_regrading:
                print("warning: internal grader errors: those checks score 0 until this submission is graded "
                      "again / 评分器内部错误：请重新评分", file=sys.stderr)
            return 0
    if _holds_code(path):
        print(f"error: {path} holds code, not student folders: name its assignment with --assignment "
              f"(e.g. --assignment qwen2_lora) / 请用 --assignment 指明作业", file=sys.stderr)
        return 2
    if not find_students(path):
        print(f"error: no submissions in {path} / 没有找到提交", file=sys.stderr)
        return 2
    executor = make_executor(args.executor, get_profile(args.profile).device, args.workers, args.address)
    only = tuple(s.strip() for s in (args.only or "").split(",") if s.strip())
    try:
        results = grade_class(path, out, args.profile, assignments, executor=executor, force=args.force,
                              policy_path=Path(args.course) if args.course else None, only=only,
                              grades_format=args.format)
    except ClassRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(results)} submissions graded -> {out / 'index.html'}, {out / 'grades.csv'}")
    return 1 if results.to_regrade else 0


def cmd_check(args) -> int:
    """For students: the visible checks on their own work, summed up in the terminal."""
    import tempfile
    from grader.runner import grade_submission

    path = Path(args.path).resolve()
    assignments, policy = _assignments(args), _policy(args)
    if assignments is None or policy is None:
        return 2
    if not path.is_dir():
        print(f"error: {path} is not a folder / 不是文件夹", file=sys.stderr)
        return 2
    if not args.assignment and path.name in assignments:   # run from inside qwen2_lora/
        assignments = (path.name,)
    _ensure_fixtures(assignments)
    if not _profile_ready(args, assignments) or not _sandbox_ready(args, isolating=False):
        return 2
    with tempfile.TemporaryDirectory(prefix="grader-check-") as scratch:
        root = one_submission(path, assignments, Path(scratch))
        if root is None:
            print(f"error: {path} holds none of {', '.join(assignments)}/; run it in your work folder or "
                  f"name one with --assignment / 没有找到作业文件夹", file=sys.stderr)
            return 2
        assignments = tuple(a for a in assignments if (root / a).is_dir()) or assignments
        result = grade_submission(root, Path(scratch) / "out", args.profile, assignments, policy=policy)
    print(summarize_visible(result))
    return 0


def summarize_visible(result) -> str:
    """Visible checks only, bilingual; the rest are counted, never named."""
    lines = []
    for a in result.assignments:
        shown = [c for c in a.checks if c.visibility == "visible"]
        got, most = sum(c.score for c in shown), sum(c.max_score for c in shown)
        lines.append(f"\n{a.name}: {got:g}/{most:g} (公开检查 / visible checks)")
        if a.error:
            lines.append(f"  ! {a.error}")
        for c in shown:
            mark = {"passed": "✓", "failed": "✗", "skipped": "–", "error": "!"}[c.status]
            lines.append(f"  {mark} {c.score:g}/{c.max_score:g}  {c.zh} / {c.en}")
            if c.status != "passed":
                lines += ["      " + line for line in c.output.strip().splitlines()[:6]]
                if c.hint_zh or c.hint_en:
                    lines.append(f"      提示：{c.hint_zh}\n      Hint: {c.hint_en}")
        hidden = len(a.checks) - len(shown)
        if hidden:
            lines.append(f"  另有 {hidden} 项检查在提交后评分 / {hidden} more check(s) are graded after you submit")
    return "\n".join(lines).lstrip("\n")


def cmd_validate(args) -> int:
    """For course authors: the reference scores full marks and the stubs zero, per assignment."""
    import tempfile
    from grader import stubs
    from grader.profiles import REPO
    from grader.runner import grade_submission

    from grader import assignments as registry

    assignments = _assignments(args)
    if assignments is None:
        return 2
    _ensure_fixtures(assignments)
    if not _sandbox_ready(args, isolating=False):
        return 2
    problems = [f"stub drift / 学生模板与参考答案不一致: {p}" for p in stubs.drift()]
    for name in assignments:   # what the declaration says a submission holds, the reference and stub hold
        for base in ("reference", "assignments"):
            problems += [f"{base}/{name}/{f} is missing but grader/checks/{name}/assignment.py lists it in files"
                         for f in registry.get(name).files if not (REPO / base / name / f).is_file()]
    with tempfile.TemporaryDirectory(prefix="grader-validate-") as scratch:
        for label, folder, want in (("reference", REPO / "reference", "full"), ("stub", REPO / "assignments", "zero")):
            result = grade_submission(folder, Path(scratch) / label, args.profile, assignments)
            for a in result.assignments:
                # a max of 0 means nothing was graded: never "ok"
                ok = (a.score == a.max_score > 0 if want == "full" else a.score == 0 < a.max_score) \
                    and not a.needs_regrading
                print(f"{'ok ' if ok else 'BAD'} {a.name:<14} {label:<9} {a.score:g}/{a.max_score:g}"
                      f" (want {want} / 应为{'满分' if want == 'full' else '零分'})")
                if not ok:
                    lost = [f"{c.name} ({c.status})" for c in a.checks
                            if (c.status != "passed") == (want == "full")]
                    problems.append(f"{a.name} {label}: {a.score:g}/{a.max_score:g}; {', '.join(lost)}")
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    return 1 if problems else 0


def cmd_gradescope_bundle(args) -> int:
    from grader.gradescope import build_bundle

    if _assignments(args) is None or _policy(args) is None:
        return 2
    from grader import assignments

    path = build_bundle(args.assignment_name, Path(args.output), course=Path(args.course) if args.course else None)
    declared = assignments.get(args.assignment_name)
    e, minutes = declared.gradescope, declared.gradescope_minutes()
    print(f"wrote {path}: upload it as the Gradescope autograder / 上传到 Gradescope 作为自动评分器\n"
          f"Autograder Settings: {declared.gradescope_settings()} (Gradescope's defaults: 768 MB, 10 min, "
          f"0.5 CPU) / 自动评分器设置：内存 {e.memory_mb} MB，超时 {minutes} 分钟，{e.cpus:g} 个 CPU")
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
    assignments = _assignments(args)
    if assignments is None:
        return 2
    _ensure_fixtures(assignments, Path(args.dest) if args.dest else None, profile=args.profile)
    return 0


def _ensure_fixtures(assignments: tuple[str, ...], dest: Path | None = None, profile: str | None = None) -> None:
    """Build (or find up to date: a stamp check) the fixtures the assignments declare; with
    ``profile``, the ones that profile adds (the gpu profile's stand-ins with the real shapes: only
    on request, as `grader fixtures --profile gpu`, never as a side effect of grading)."""
    import fixtures
    from grader import assignments as registry

    fixtures.build(registry.needs("fixtures", assignments, profile=profile), dest)


def cmd_needs(args) -> int:
    """What the assignments need installed, one per line: `pip install $(grader needs pip)`; or, with
    `limits`, the time limits a grading gets and the measurement each comes from."""
    from grader import assignments as registry

    assignments = _assignments(args)
    if assignments is None:
        return 2
    if args.kind == "limits":
        print("\n".join(registry.limits_table(assignments, args.profile)))
    else:
        print("\n".join(registry.needs(args.kind, assignments)))
    return 0


def cmd_grades(args) -> int:
    from grader.classrun import ClassRunError, load_class
    from grader.report import write_grades_csv

    out = Path(args.out_dir).resolve()
    try:
        results = load_class(out)
    except ClassRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = Path(args.output) if args.output else out / f"grades-{args.format}.csv"
    write_grades_csv(results, path, args.format)
    print(f"wrote {path}: {len(results)} students ({args.format}) / 已导出成绩")
    return 0


def cmd_similarity(args) -> int:
    from grader.classrun import find_students
    from grader.similarity import write_report

    assignments = _assignments(args)
    path = Path(args.path).resolve()
    if assignments is None:
        return 2
    if not path.is_dir() or not find_students(path):
        print(f"error: {path} holds no student folders / 没有找到学生提交", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    pairs = write_report(find_students(path), out, assignments)
    print(f"{sum(p.flagged for p in pairs)} flagged pair(s) -> {out / 'similarity.html'} / 相似度报告")
    return 0


def cmd_publish_site(args) -> int:
    """The students' site: each report at a link nobody can guess, as the course policy shows it today."""
    from datetime import datetime

    from grader.classrun import ClassRunError, load_class
    from grader.site import SiteError, publish

    policy = _policy(args)
    if policy is None:
        return 2
    reports, site = Path(args.out_dir).resolve(), Path(args.out).resolve()
    if site == reports or reports in site.parents:
        print(f"error: --out {site} is inside the class run's folder {reports}: the site must sit apart from "
              f"the staff's reports / 站点不能放在评分输出文件夹里", file=sys.stderr)
        return 2
    try:
        now = datetime.fromisoformat(args.now) if args.now else None
        if now is not None and now.tzinfo is None:
            raise ValueError("give its offset")
    except ValueError as exc:
        print(f"error: --now {args.now!r}: {exc}; e.g. 2026-12-02T00:00:00+08:00", file=sys.stderr)
        return 2
    try:
        done = publish(load_class(reports), site, policy, base_url=args.base_url or "",
                       published=args.grades_published or policy.grades_published, now=now,
                       secret_file=Path(args.secret_file).resolve() if args.secret_file else None,
                       rotate=args.rotate_secret)
    except (ClassRunError, SiteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(done.written)} page(s) written, {len(done.unchanged)} unchanged, {done.removed} removed -> {site}\n"
          f"links for the staff only (never copy them into the site): {done.links_csv}; the secret: "
          f"{done.secret} / 链接表仅供助教使用")
    return 0


def cmd_publish(args) -> int:
    from grader.classrun import ClassRunError, load_class
    from grader.lms import PublishError, folder_links, publish
    from grader.site import SiteError, read_links

    ids = {}
    for item in args.assignment_id:
        name, _, number = item.partition("=")
        if not number.strip().isdigit():
            print(f"error: --assignment-id {item!r}: write NAME=ID, e.g. qwen2_lora=1234", file=sys.stderr)
            return 2
        ids[name.strip()] = int(number)
    try:
        results = load_class(Path(args.out_dir).resolve())
        links = read_links(Path(args.links), [r.student for r in results]) if args.links else None
        if args.report_url:
            print("warning: --report-url links <url>/<student>/report.html: any student can read another's "
                  "report by changing the name; publish a site (`grader publish site`) and give --links "
                  "/ 这种链接可以被猜到", file=sys.stderr)
            links = folder_links(args.report_url, results)
        found = publish(args.url, args.course_id, results, links, ids, args.dry_run, sys.stdout)
    except (ClassRunError, PublishError, SiteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if found.unmatched:
        print(f"not in the Canvas course (no student with that login, SIS id or email), not uploaded: "
              f"{', '.join(found.unmatched)} / 以下学生在 Canvas 中找不到，未上传", file=sys.stderr)
        return 1
    return 0


def cmd_doctor(args) -> int:
    """Which sandbox mode grades here, why each stronger one does not, and the fix."""
    from grader.isolation import doctor
    from grader.sandbox import Cgroups

    checks = doctor()
    best = next(c.mode for c in checks if c.works)
    if args.best:   # for scripts (the Makefile's demo): the strongest mode that works, process included
        print(best)
        return 0
    for c in checks:
        print(f"{'ok ' if c.works else 'no '} {c.mode:<18} {'' if c.works else c.said}")
        if c.fix:
            print(f"    fix / 修复: {c.fix}")
    caps = Cgroups.available()
    print(f"cgroups: {', '.join(sorted(caps)) or 'none writable: memory and processes held by rlimits only'}")
    isolating = next((c.mode for c in checks if c.works and c.mode != "process"), None)
    print(f"grader run uses: {isolating or 'nothing (only --sandbox process, which does not isolate)'}")
    return 0 if isolating else 1


def profile_option(p, help_text: str = "grading profile (default: cpu)") -> None:
    from grader.profiles import PROFILES
    p.add_argument("--profile", default="cpu", choices=tuple(PROFILES), help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description="Grade LLM course homework in a sandbox / 大模型课程作业自动评分")
    sub = parser.add_subparsers(dest="command", required=True)
    _grading_commands(sub)
    _course_tools(sub)
    return parser


def _grading_commands(sub) -> None:
    """run, check, validate: the commands that grade."""
    from grader.results import GRADE_FORMATS   # light: `grader needs apt` runs before anything is installed
    from grader.sandbox import MODES

    def common(p, course=True):
        profile_option(p)
        p.add_argument("--models", help="the gpu profile's modelscope cache holding the real models "
                                        "(default: $GRADER_MODELS, else the stand-ins of `grader fixtures --profile gpu`)")
        p.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
        if course:
            p.add_argument("--course", help="course policy: points, visibility, due dates (course.toml)")
        p.add_argument("--sandbox", default="auto", choices=("auto", *MODES),
                       help="sandbox mode (default: the strongest that works here; `grader doctor` lists them; "
                            "process isolates nothing and is used by `grader run` only when named)")

    run = sub.add_parser("run", help="grade one submission folder or a folder of submissions")
    run.add_argument("path")
    run.add_argument("--out", default="reports", help="where reports go (default: reports/)")
    common(run)
    run.add_argument("--workers", type=int, help="students graded at once (default: one per core, as memory allows)")
    run.add_argument("--executor", choices=("local", "ray"), default="local")
    run.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    run.add_argument("--force", action="store_true", help="regrade students whose files did not change")
    run.add_argument("--metadata", help="Gradescope submission_metadata.json (submission time)")
    run.add_argument("--only", help="comma-separated students to regrade in a class run; the others keep their "
                                    "last grading (the class pages stay whole)")
    run.add_argument("--format", default="plain", choices=GRADE_FORMATS, help="grades.csv layout (default: plain)")
    run.set_defaults(func=cmd_run)
    chk = sub.add_parser("check", help="students: run the visible checks on your own work")
    chk.add_argument("path", nargs="?", default=".")
    common(chk)
    chk.set_defaults(func=cmd_check)
    val = sub.add_parser("validate", help="course authors: reference full marks, stubs zero")
    common(val, course=False)
    val.set_defaults(func=cmd_validate)


def _course_tools(sub) -> None:
    """The staff's other commands: bundles, set-up, gradebooks, similarity, publishing."""
    from grader.results import GRADE_FORMATS

    gs = sub.add_parser("gradescope-bundle", help="build a Gradescope autograder zip for one assignment")
    gs.add_argument("assignment_name", metavar="ASSIGNMENT")
    gs.add_argument("-o", "--output", default="autograder.zip")
    gs.add_argument("--course", help="course policy to bundle (course.toml)")
    gs.set_defaults(func=cmd_gradescope_bundle, assignment=None)
    doc = sub.add_parser("doctor", help="which sandbox mode grades here, and how to fix the stronger ones")
    doc.add_argument("--best", action="store_true", help="print only the strongest mode that works (process included)")
    doc.set_defaults(func=cmd_doctor)
    stubs = sub.add_parser("stubs", help="generate assignments/ from reference/")
    stubs.add_argument("--check", action="store_true", help="only check that assignments/ is up to date")
    stubs.set_defaults(func=cmd_stubs)
    fx = sub.add_parser("fixtures", help="build the stand-in models and tokenizers the assignments need")
    fx.add_argument("--dest")
    profile_option(fx, "also the stand-ins this profile needs (gpu: the real models' shapes, random weights)")
    fx.add_argument("--assignment", action="append", help="only what this assignment needs (repeatable)")
    fx.set_defaults(func=cmd_fixtures)
    nd = sub.add_parser("needs", help="the pip requirements or apt packages the assignments declare, or the "
                                      "time limits a grading gets (each from its measurement)")
    nd.add_argument("kind", choices=("pip", "apt", "limits"))
    nd.add_argument("--profile", default="cpu", help="the grading profile whose limits to print (limits only)")
    nd.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    nd.set_defaults(func=cmd_needs)
    gr = sub.add_parser("grades", help="write the gradebook of a class run again, in an LMS's layout")
    gr.add_argument("out_dir", metavar="REPORTS", help="the class run's --out folder")
    gr.add_argument("--format", default="canvas", choices=GRADE_FORMATS, help="default: canvas")
    gr.add_argument("-o", "--output", help="default: REPORTS/grades-<format>.csv")
    gr.set_defaults(func=cmd_grades)
    sim = sub.add_parser("similarity", help="the similarity report of a class (also written by every class run)")
    sim.add_argument("path", help="the folder of submissions")
    sim.add_argument("--out", default="reports", help="where similarity.html and .csv go (default: reports/)")
    sim.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    sim.set_defaults(func=cmd_similarity)
    pub = sub.add_parser("publish", help="publish a class run to the students: a site of private links, or Canvas")
    where = pub.add_subparsers(dest="target", required=True, metavar="{site,canvas}")
    site = where.add_parser("site", help="a static site: each student's report at a link nobody can guess")
    site.add_argument("out_dir", metavar="REPORTS", help="the class run's --out folder")
    site.add_argument("--out", required=True, metavar="SITE",
                      help="the site's folder, to copy to any web server as it is (SITE-links.csv and "
                           "SITE.secret are written beside it, for the staff only)")
    site.add_argument("--course", help="course.toml: due dates, check visibility, grades_published")
    site.add_argument("--base-url", help="where SITE will be served, for full links in SITE-links.csv")
    site.add_argument("--grades-published", action="store_true",
                      help="show after_published checks (as [course] grades_published = true)")
    site.add_argument("--secret-file", help="the course secret the links derive from (default: SITE.secret, made once)")
    site.add_argument("--rotate-secret", action="store_true", help="a new secret: every link changes, old pages go")
    site.add_argument("--now", help=argparse.SUPPRESS)   # the publication's time, for tests (ISO, with offset)
    site.set_defaults(func=cmd_publish_site)
    canvas = where.add_parser("canvas", help="upload a class run's grades to Canvas, each with a link to the report")
    canvas.add_argument("out_dir", metavar="REPORTS", help="the class run's --out folder")
    canvas.add_argument("--url", required=True, help="the Canvas address, e.g. https://canvas.example.edu")
    canvas.add_argument("--course-id", type=int, required=True, help="the Canvas course id (its address's number)")
    canvas.add_argument("--links", metavar="SITE-links.csv",
                        help="each comment links the student's own page of the site `grader publish site` wrote")
    canvas.add_argument("--report-url", help="(guessable) where REPORTS itself is served: links <it>/<student>/report.html")
    canvas.add_argument("--assignment-id", action="append", default=[], metavar="NAME=ID",
                        help="the Canvas assignment of one of ours (default: the one with its name)")
    canvas.add_argument("--dry-run", action="store_true", help="match students and assignments, send nothing")
    canvas.set_defaults(func=cmd_publish)


def main(argv=None) -> int:
    from grader.settings import SettingsError, current, resolve

    args = build_parser().parse_args(argv)
    try:
        current()   # a malformed GRADER_* number is named now, not inside a grading
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "models", None):
        models = Path(args.models).expanduser().resolve()
        if not models.is_dir():
            print(f"error: --models {models} is not a folder: give the modelscope cache that holds the models "
                  f"(its qwen/Qwen2-7B-Instruct ...) / --models 不是文件夹", file=sys.stderr)
            return 2
        resolve(models=str(models))   # every child (pytest, the sandbox's set-up) gets it in the settings
    if args.command == "gradescope-bundle":
        args.assignment = [args.assignment_name]
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
