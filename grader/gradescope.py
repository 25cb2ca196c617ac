"""Build a Gradescope autograder zip: setup.sh, run_autograder and this grader's source.

Gradescope unpacks the zip to /autograder/source, runs setup.sh once when the image is built, and
runs run_autograder for every submission, with the student's files in /autograder/submission and
its metadata in /autograder/submission_metadata.json; results go to /autograder/results/results.json.
AUTOGRADER_ROOT and GRADER_PYTHON override those paths (the tests run the bundle in a temp root).
"""
from __future__ import annotations

import shlex
import zipfile
from pathlib import Path

from grader import assignments as registry
from grader.profiles import REPO

# What the grader needs at grading time; never reference/ (no solutions on the grading image).
SOURCE = ("grader", "fixtures", "templates", "pyproject.toml", "README.md")

# {apt}, {pip} and {assignment} come from the assignment's declaration (grader/assignments.py)
SETUP_SH = """#!/usr/bin/env bash
# Runs once on Gradescope's image (Ubuntu, as root): the sandbox, Python, the grader, its fixtures.
# Gradescope's containers refuse namespaces: `grader doctor` then picks the container mode
# (Landlock and seccomp over libseccomp2), which the tests run under a Docker-like confinement.
set -euxo pipefail
apt-get update
apt-get install -y --no-install-recommends bubblewrap libseccomp2 python3-venv python3-pip python3-dev util-linux {apt}
python3 -m venv /autograder/venv
# the CPU build of torch first, so pip never pulls the CUDA wheels
/autograder/venv/bin/pip install --index-url https://download.pytorch.org/whl/cpu "torch>=2.13,<2.14"
# deepspeed's setup.py imports torch: build it against this torch, not an isolated download of one
/autograder/venv/bin/pip install setuptools wheel
/autograder/venv/bin/pip install --no-build-isolation deepspeed==0.19.8
# editable: grader, its checks, probes and templates all resolve to /autograder/source
/autograder/venv/bin/pip install -e /autograder/source {pip}
cd /autograder/source && /autograder/venv/bin/python -m grader.cli fixtures --assignment {assignment}
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Grades /autograder/submission for {assignment}; always leaves a results.json for Gradescope.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PY="${{GRADER_PYTHON:-$ROOT/venv/bin/python}}"
mkdir -p "$ROOT/results"
cd "$ROOT/source"
COURSE=()
[ -f "$ROOT/source/course.toml" ] && COURSE=(--course "$ROOT/source/course.toml")
# the envelope this bundle states ({envelope}): each sandboxed run's memory, so a student's memory
# hog is reported as such instead of the container being killed
export GRADER_MEMORY_LIMIT_MB="${{GRADER_MEMORY_LIMIT_MB:-{sandbox_mb}}}"
# one submission a container, measured inside the envelope without warm interpreters (grader/warm.py:
# a server of its own that pays off over a class, and the container mode starts cold anyway)
export GRADER_WARM="${{GRADER_WARM:-0}}"
"$PY" -m grader.cli run "$ROOT/submission" --assignment {assignment} --out "$ROOT/results/report" \\
    --metadata "$ROOT/submission_metadata.json" "${{COURSE[@]}}"
status=$?
if [ $status -eq 3 ] || {{ [ $status -eq 2 ] && [ ! -f "$ROOT/results/report/results.json" ]; }}; then
    # the sandbox failed (or the run could not start): the grader's failure, never a score of 0;
    # no results.json, so Gradescope shows the staff an autograder failure
    echo "grader: no score: the grader could not run here (see above) / 评分器无法运行，未给出分数" >&2
    exit 1
fi
if [ $status -eq 0 ] && [ -f "$ROOT/results/report/results.json" ]; then
    cp "$ROOT/results/report/results.json" "$ROOT/results/results.json"
else
    cat > "$ROOT/results/results.json" <<'JSON'
{{"score": 0, "output": "评分器未能完成评分，请联系助教。 / The grader could not finish; tell the course staff.", "tests": []}}
JSON
fi
"""


def build_bundle(assignment: str, output: Path, course: Path | None = None) -> Path:
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        declared = registry.get(assignment)
        _add_script(zf, "setup.sh", SETUP_SH.format(
            assignment=assignment, apt=" ".join(declared.apt),
            pip=" ".join(shlex.quote(requirement) for requirement in declared.pip)))
        _add_script(zf, "run_autograder", RUN_AUTOGRADER.format(
            assignment=assignment, envelope=declared.gradescope_settings(), sandbox_mb=declared.gradescope.sandbox_mb))
        for name in SOURCE:
            path = REPO / name
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for f in files:
                if "__pycache__" not in f.parts and f.suffix != ".pyc":
                    zf.write(f, f.relative_to(REPO).as_posix())
        if course is not None:
            zf.write(course, "course.toml")
    tmp.replace(output)
    return output


def _add_script(zf: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o755 << 16   # executable once unzipped
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, text)
