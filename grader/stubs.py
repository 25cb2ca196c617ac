"""Generate the student stubs in assignments/ from the reference solutions in reference/.

Solution code sits between `# BEGIN SOLUTION` and `# END SOLUTION` lines (the nbgrader /
otter-assign habit). The stub keeps everything else (signatures, docstrings, constants, the
assignment README) and puts a bilingual TODO and `raise NotImplementedError` in each block's place,
so the stub imports but every function still has to be written. `grader stubs --check` fails when
assignments/ has drifted from what the reference generates.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from grader.profiles import REPO

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
DEF = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)")


# what stands in a solution block's place, by language: (the TODO line, the line that fails)
PLACEHOLDERS = {
    ".py": ("# TODO(学生 / student): 完成 {zh}，见上面的说明 / implement {en} as described above",
            'raise NotImplementedError("请完成 {zh} / implement {en}")'),
    ".sh": ("# TODO(学生 / student): 完成{zh}，见上面的说明 / implement {en} as described above",
            'echo "请完成 train.sh / implement train.sh" >&2; exit 1'),
}
STUB_INFIX = ".stub"   # reference/x/ds_config.stub.json is the stub's ds_config.json (for files without comments)


def make_stub(source: str, filename: str = "<source>", suffix: str = ".py") -> str:
    todo, failing = PLACEHOLDERS[suffix]
    out, inside, function = [], False, None
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        if (m := DEF.match(line)) and not inside:
            function = m.group(1)
        if m := BEGIN.match(line):
            if inside:
                raise ValueError(f"{filename}:{number}: nested BEGIN SOLUTION")
            inside, indent = True, m.group(1)
            zh, en = (function, function) if indent and function else ("这一步", "this step")
            out.append(f"{indent}{todo.format(zh=zh, en=en)}\n")
            out.append(f"{indent}{failing.format(zh=zh, en=en)}\n")
        elif END.match(line):
            if not inside:
                raise ValueError(f"{filename}:{number}: END SOLUTION without BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{filename}: BEGIN SOLUTION without END")
    return "".join(out)


def generate(reference: Path = REPO / "reference", target: Path = REPO / "assignments") -> dict[Path, str]:
    """{path under target: text} for every file of every assignment in reference/."""
    files = {}
    paths = [p for p in sorted(reference.rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")]
    stubbed = {_without_stub_infix(p) for p in paths if STUB_INFIX in p.suffixes}
    for path in paths:
        if path in stubbed:
            continue   # its .stub twin stands in for it
        rel = _without_stub_infix(path.relative_to(reference))
        text = path.read_text(encoding="utf-8")
        files[target / rel] = make_stub(text, str(rel), path.suffix) if path.suffix in PLACEHOLDERS else text
    return files


def _without_stub_infix(path: Path) -> Path:
    """ds_config.stub.json -> ds_config.json; a name without the .stub suffix stays as it is."""
    if STUB_INFIX not in path.suffixes:
        return path
    return path.with_name(path.name.replace(STUB_INFIX, "", 1))


def write(reference: Path = REPO / "reference", target: Path = REPO / "assignments") -> list[Path]:
    files = generate(reference, target)
    if target.exists():
        shutil.rmtree(target)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(files)


def drift(reference: Path = REPO / "reference", target: Path = REPO / "assignments") -> list[str]:
    """Paths whose content differs from what the reference generates (empty when in sync)."""
    files = generate(reference, target)
    actual = {p for p in target.rglob("*") if p.is_file() and "__pycache__" not in p.parts} if target.exists() else set()
    problems = [str(p.relative_to(REPO)) for p, text in files.items()
                if not p.exists() or p.read_text(encoding="utf-8") != text]
    problems += [f"{p.relative_to(REPO)} (not in reference/)" for p in sorted(actual - set(files))]
    return problems
