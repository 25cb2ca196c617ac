"""Generate the student stubs in assignments/ from the reference solutions in reference/.

Solution code sits between `# BEGIN SOLUTION` and `# END SOLUTION` lines (the nbgrader /
otter-assign habit). The stub keeps everything else (signatures, docstrings, constants, the
assignment README) and puts a bilingual TODO and `raise NotImplementedError` in each block's place,
so the stub imports but every function still has to be written. Each stub .py also gets a twin
notebook, X.ipynb, for students who work in Jupyter (the probes grade whichever of the two was filled:
grader/probes/notebooks.py). `grader stubs --check` fails when assignments/ has drifted from what
the reference generates.
"""
from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

from grader.profiles import REPO

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
DEF = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)")
# a top-level block (`if __name__ == "__main__":`) ends the function before it: its TODO says "this step"
TOP_BLOCK = re.compile(r"^(?:if|for|while|with|try)\b")


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
        elif TOP_BLOCK.match(line) and not inside:
            function = None
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
        if path.suffix == ".py":
            files[target / rel.with_suffix(".ipynb")] = stub_notebook(files[target / rel])
    return files


def stub_notebook(stub: str) -> str:
    """The stub as a notebook (.ipynb text): a markdown cell for the module docstring, then one code
    cell per top-level block (`notebook_blocks`). Written with jupytext from py:percent text; cell
    ids come from the cell's index and nothing else varies, so the drift check stays stable."""
    import jupytext

    docstring, blocks = notebook_blocks(stub)
    cells = ["# %%\n" + block for block in blocks]
    if docstring:   # a markdown cell in py:percent is commented text
        cells.insert(0, "# %% [markdown]\n" + "\n".join(f"# {line}".rstrip() for line in docstring.split("\n")))
    notebook = jupytext.reads("\n\n".join(cells) + "\n", fmt="py:percent")
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for index, cell in enumerate(notebook.cells):
        cell.id, cell.metadata = f"cell-{index}", {}
    return jupytext.writes(notebook, fmt="ipynb") + "\n"


def notebook_blocks(source: str) -> tuple[str | None, list[str]]:
    """(the module docstring, the code of each cell): the imports together, one cell per function or
    class, the `if __name__ == "__main__":` block on its own, and other statements grouped as the
    blank lines of the source group them. A statement's comments and decorators go with it; blank
    lines around a block are dropped, those inside it kept."""
    tree = ast.parse(source)
    lines = source.split("\n")
    body, docstring = tree.body, ast.get_docstring(tree, clean=True)
    first_line = 1
    if docstring is not None:
        first_line, body = body[0].end_lineno + 1, body[1:]
    starts = []   # (first line, node): where each statement begins, with the comment lines right above it
    for node in body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        above = starts[-1][1].end_lineno if starts else first_line - 1
        while start - 1 > above and lines[start - 2].lstrip().startswith("#"):
            start -= 1
        starts.append((start, node))
    cells: list[tuple[str, list[str]]] = []   # (kind, lines)
    for i, (start, node) in enumerate(starts):
        begin = first_line if i == 0 else start
        stop = starts[i + 1][0] - 1 if i + 1 < len(starts) else len(lines)
        chunk = lines[begin - 1:stop]
        kind = _block_kind(node)
        previous = cells[-1][0] if cells else None
        after_blank = i > 0 and not lines[start - 2].strip()
        if previous == kind and (kind == "import" or (kind == "other" and not after_blank)):
            cells[-1][1].extend(chunk)
        else:
            cells.append((kind, chunk))
    return docstring, [_without_blank_ends(chunk) for _, chunk in cells]


def _without_blank_ends(lines: list[str]) -> str:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    return "\n".join(lines)


def _block_kind(node: ast.stmt) -> str:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return "import"
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If)):
        return "own cell"   # never grouped: each function, class and the main block alone
    return "other"


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
