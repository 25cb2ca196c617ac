"""Notebooks instead of .py files, inside the sandbox: called at the start of each probe, before any
student file is looked at.

For each Python file the assignment declares (its `notebooks`), X.ipynb stands in for X.py when it is the one the
student filled (`pick_notebook`): jupytext converts it to the py:percent format (IPython magics such
as `%pip` and `!pip` commented out) and the result is written as X.py in the sandbox's copy, so the
probes, Streamlit and the `deepspeed` launcher find it where they find a .py. A module file (one
the probes import) keeps only its definitions (`definitions_only`): a notebook's top-level cells
train, print and download, and must not run when the grader imports it. A notebook that cannot be
converted leaves a bilingual error in `rec.unusable`, which `check_source` reports under the step
that asks for X.py, so the checks show it.
"""
from __future__ import annotations

import ast
import json
import re
import warnings
from pathlib import Path

from _probe_common import SUBMISSION, Recorder

MODULE, SCRIPT = "module", "script"
# the lines grader/stubs.py puts where a solution goes (tests/test_notebooks.py keeps them in step)
PLACEHOLDER_RAISE = 'raise NotImplementedError("请完成'
PLACEHOLDER_TODO = "# TODO(学生 / student)"
# py:percent without a YAML header or cell metadata: the converted file starts with the student's code
PERCENT = {"extension": ".py", "format_name": "percent",
           "notebook_metadata_filter": "-all", "cell_metadata_filter": "-all"}
UPPER_CASE = re.compile(r"^_*[A-Z][A-Z0-9_]*$")
NOT_RUN = "# 评分时不运行 / not run when graded: "
# cell magics whose body IPython runs as Python; any other cell magic's body is not Python
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}
HEADER = {
    MODULE: "# 评分器由 {notebook} 转换而来：只保留 import、函数、类、大写常量和 if __name__ == \"__main__\": 块。\n"
            "# Converted from {notebook} by the grader: only imports, functions, classes, UPPER_CASE constants\n"
            "# and the if __name__ == \"__main__\": block are kept.\n",
    SCRIPT: "# 评分器由 {notebook} 转换而来 / converted from {notebook} by the grader\n",
}


class NotebookError(Exception):
    """A notebook that cannot stand in for its .py; the message is for the student."""


def use_notebooks(rec: Recorder, expected: dict[str, str], folder: Path | None = None) -> dict:
    """Write X.py from X.ipynb in the sandbox's copy wherever the notebook is the one to grade.
    ``expected``: {X.py: "module" or "script"}, the assignment's declaration (input.json "notebooks").

    Records in the note "notebooks" which file is graded for each expected file that has a
    notebook beside it (nothing when there is none), and why."""
    folder = SUBMISSION if folder is None else folder
    used = {}
    for filename, kind in expected.items():
        choice = _materialise(folder, filename, kind, rec)
        if choice is not None:
            used[filename] = choice
    if used:
        rec.note("notebooks", used)
    return used


def _materialise(folder: Path, filename: str, kind: str, rec: Recorder) -> dict | None:
    py, notebook = folder / filename, folder / Path(filename).with_suffix(".ipynb").name
    if not notebook.is_file():
        return None
    py_text = py.read_bytes().decode("utf-8", errors="replace") if py.is_file() else None
    if py_text is not None and unfinished(py_text) == (0, 0):
        return {"graded": filename, "why": f"{filename} has no placeholder left: the .py wins"}
    try:
        nb = read_notebook(notebook)
        if not pick_notebook(py_text, "\n".join(c.source for c in nb.cells if c.cell_type == "code")):
            return {"graded": filename, "why": f"{notebook.name} has as many placeholders left as {filename} or more"}
        text = convert(nb, notebook.name, kind)
    except Exception as exc:  # noqa: BLE001 -- NotebookError, or whatever else a malformed notebook makes jupytext or ast raise
        # the .py still holds placeholders: the student worked in the notebook, so say what is wrong with it
        message = str(exc) if isinstance(exc, NotebookError) else (
            f"{notebook.name} 无法转换成 {filename}（{type(exc).__name__}）。请在 Jupyter 里打开并重新保存，或者改交 "
            f"{filename}。 / {notebook.name} cannot be converted to {filename} ({type(exc).__name__}). Open it in "
            f"Jupyter and save it again, or submit {filename} instead.")
        rec.unusable[filename] = message
        return {"graded": notebook.name, "error": message}
    try:
        py.unlink(missing_ok=True)   # a link in its place is replaced, never written through
        py.write_text(text, encoding="utf-8")
    except OSError as exc:   # a folder named train.py, say
        rec.unusable[filename] = (f"无法用 {notebook.name} 生成 {filename}（{exc.strerror}）：请删掉 {filename}。 / "
                                  f"cannot write {filename} from {notebook.name} ({exc.strerror}): remove {filename}.")
        return {"graded": notebook.name, "error": rec.unusable[filename]}
    return {"graded": notebook.name, "why": f"only {notebook.name}" if py_text is None
            else f"{filename} has more placeholders left"}


def unfinished(text: str) -> tuple[int, int]:
    """How much of the stub is left: the placeholder raises, then the TODO lines."""
    return text.count(PLACEHOLDER_RAISE), text.count(PLACEHOLDER_TODO)


def pick_notebook(py_text: str | None, notebook_code: str) -> bool:
    """Which file is graded: the notebook when there is no .py, or when it has fewer placeholders left
    than the .py (the student filled the notebook, not the stub .py); a tie goes to the .py."""
    return py_text is None or unfinished(notebook_code) < unfinished(py_text)


def read_notebook(path: Path):
    """The notebook as nbformat v4, validated; NotebookError (bilingual, names the file) if it is not one."""
    import jupytext   # here, not at the top: a probe without notebooks does not pay for it
    import nbformat

    name = path.name
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise NotebookError(f"无法读取 {name}（{exc.strerror}）：请检查文件权限，或者改交 {path.stem}.py。 / "
                            f"{name} cannot be read ({exc.strerror}): check its permissions, or submit "
                            f"{path.stem}.py instead.") from None
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{name} 不是 UTF-8 编码（第 {exc.start} 字节）：请在 Jupyter 里打开并重新保存，"
                            f"或者改交 {path.stem}.py。 / {name} is not UTF-8 (byte {exc.start}): open it in "
                            f"Jupyter and save it again, or submit {path.stem}.py instead.") from None
    try:
        data = json.loads(text)
        json.dumps(data, ensure_ascii=False).encode("utf-8")   # a "\\ud800" escape decodes to a lone surrogate
    except RecursionError:
        raise NotebookError(f"{name} 的 JSON 嵌套过深，不是 Jupyter 保存的 notebook。请在 Jupyter 里重新保存，或者改交 "
                            f"{path.stem}.py。 / {name} is nested too deeply to be a notebook Jupyter saved. Save it "
                            f"again in Jupyter, or submit {path.stem}.py instead.") from None
    except UnicodeEncodeError:
        raise NotebookError(f"{name} 含有无效的 Unicode 字符（孤立的代理项，如 \\ud800）。请在 Jupyter 里删掉这些字符后保存，"
                            f"或者改交 {path.stem}.py。 / {name} holds characters that are not valid Unicode (a lone "
                            f"surrogate such as \\ud800). Remove them in Jupyter and save, or submit {path.stem}.py "
                            f"instead.") from None
    except ValueError as exc:
        where = f"第 {exc.lineno} 行：{exc.msg}" if hasattr(exc, "lineno") else str(exc)
        where_en = f"line {exc.lineno}: {exc.msg}" if hasattr(exc, "lineno") else str(exc)
        raise NotebookError(f"{name} 不是 Jupyter notebook：它不是 JSON（{where}）。请提交 Jupyter 保存的 .ipynb 文件，"
                            f"或者改交 {path.stem}.py。 / {name} is not a Jupyter notebook: it is not JSON "
                            f"({where_en}). Submit the .ipynb file Jupyter saves, or submit {path.stem}.py "
                            f"instead.") from None
    try:
        if not isinstance(data, dict):
            raise ValueError(f"the file holds a JSON {type(data).__name__}, not a notebook object")
        with warnings.catch_warnings():   # old formats and missing cell ids only warn: validate() decides
            warnings.simplefilter("ignore")
            nb = jupytext.reads(text, fmt="ipynb", as_version=4)
            nbformat.validate(nb)
    except Exception as exc:  # nbformat's ValidationError and whatever a strange structure raises
        reason = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).splitlines()[0][:300]
        raise NotebookError(f"{name} 不是有效的 Jupyter notebook（nbformat 4）：{reason}。请在 Jupyter 里打开并重新保存，"
                            f"或者改交 {path.stem}.py。 / {name} is not a valid Jupyter notebook (nbformat 4): "
                            f"{reason}. Open it in Jupyter and save it again, or submit {path.stem}.py "
                            f"instead.") from None
    return nb


def convert(nb, notebook_name: str, kind: str) -> str:
    """The text of X.py for a notebook: py:percent, magics commented out; for a module only its
    definitions. NotebookError if a code cell does not compile."""
    import jupytext

    text = jupytext.writes(without_cell_magics(nb), fmt=PERCENT)
    try:
        compile(text, notebook_name, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise NotebookError(_syntax_message(nb, notebook_name, exc)) from None
    except (ValueError, RecursionError) as exc:   # a NUL byte; an expression nested past the parser's limit
        raise NotebookError(f"{notebook_name} 转换成 .py 后无法编译（{type(exc).__name__}）。请在 Jupyter 里运行每个单元格，"
                            f"修正后保存，或者改交 .py 文件。 / {notebook_name} converted to .py cannot be compiled "
                            f"({type(exc).__name__}). Run each cell in Jupyter, fix it and save, or submit the .py "
                            f"file instead.") from None
    if kind == MODULE:
        text = definitions_only(text)
    return HEADER[kind].format(notebook=notebook_name) + text


def without_cell_magics(nb):
    """A copy of the notebook where a cell run by a cell magic other than PYTHON_CELL_MAGICS
    (%%writefile, %%bash, %%html...) is all comments: Jupyter never runs its body as Python, so the
    graded .py must not either (jupytext comments out only the magic line)."""
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        first = cell.source.lstrip().split("\n", 1)[0]
        magic = first[2:].split(None, 1)[0] if first.startswith("%%") and len(first) > 2 else None
        if magic is not None and magic not in PYTHON_CELL_MAGICS:
            cell.source = "\n".join(f"# {line}" for line in cell.source.split("\n"))
    return nb


def _syntax_message(nb, notebook_name: str, whole: SyntaxError) -> str:
    """Name the cell: Jupyter compiles each cell alone, so the first that fails alone is the one."""
    import jupytext
    import nbformat

    for number, cell in enumerate(nb.cells, 1):
        if cell.cell_type != "code":
            continue
        alone = jupytext.writes(nbformat.v4.new_notebook(cells=[cell]), fmt=PERCENT)
        try:
            compile(alone, notebook_name, "exec", dont_inherit=True)
        except SyntaxError as exc:
            line = max(1, (exc.lineno or 2) - 1)   # the first line of `alone` is the cell marker
            code = (exc.text or "").strip()[:200]
            return (f"{notebook_name} 第 {number} 个单元格第 {line} 行有语法错误：{exc.msg}：{code}。"
                    f"请在 Jupyter 里运行这个单元格，修正后保存。 / syntax error in {notebook_name}, cell {number} "
                    f"line {line}: {exc.msg}: {code}. Run that cell in Jupyter, fix it and save.")
    code = (whole.text or "").strip()[:200]
    return (f"{notebook_name} 转换成 .py 后第 {whole.lineno} 行有语法错误：{whole.msg}：{code}。"
            f"（例如 from __future__ import 只能放在第一个单元格的开头。） / {notebook_name} converted to .py has a "
            f"syntax error at line {whole.lineno}: {whole.msg}: {code}. (A from __future__ import, for "
            f"instance, must open the first cell.)")


def definitions_only(source: str) -> str:
    """Keep the top-level imports, functions, classes, UPPER_CASE constants and the
    `if __name__ == "__main__":` block exactly as written; comment out every other top-level
    statement (line numbers stay as they were), so importing the module runs no training."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    dropped: dict[int, bool] = {}   # line number -> is it the first line of its statement
    for node in ast.parse("\n".join(lines)).body:
        if _is_definition(node):
            continue
        for number in range(node.lineno, node.end_lineno + 1):
            dropped.setdefault(number, number == node.lineno)
    return "\n".join((NOT_RUN if dropped[n] else "# ") + line if n in dropped else line
                     for n, line in enumerate(lines, 1))


def _is_definition(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, ast.Assign):
        return all(_is_upper_case(target) for target in node.targets)
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return _is_upper_case(node.target)
    if isinstance(node, ast.If):   # an else branch would run on import
        return _is_main_guard(node.test) and not node.orelse
    # a bare string (a docstring) does nothing
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _is_upper_case(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return bool(UPPER_CASE.match(target.id))
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_is_upper_case(element) for element in target.elts)
    return isinstance(target, ast.Starred) and _is_upper_case(target.value)


def _is_main_guard(test: ast.expr) -> bool:
    """`__name__ == "__main__"`, either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = {_plain(test.left), _plain(test.comparators[0])}
    return sides == {("name", "__name__"), ("str", "__main__")}


def _plain(node: ast.expr):
    if isinstance(node, ast.Name):
        return ("name", node.id)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ("str", node.value)
    return None
