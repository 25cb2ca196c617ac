"""Notebooks instead of .py files: the conversion inside the sandbox (grader/probes/notebooks.py)
and the stub notebooks `grader stubs` writes beside each stub .py."""
from __future__ import annotations

import ast
import json
import sys

import nbformat
import pytest

from grader import stubs
from grader.profiles import REPO
from grader.sandbox import PROBES_DIR
from grader.assignments import discover
from tests.conftest import grade, make_submission

sys.path.insert(0, str(PROBES_DIR))   # the probes import each other by their bare names, as in the sandbox
import _probe_common  # noqa: E402
import notebooks  # noqa: E402

NOTEBOOKS = {a.name: a.notebooks for a in discover().values()}
STUB_FILES = [(assignment, filename) for assignment, files in NOTEBOOKS.items() for filename in files]


@pytest.fixture
def rec(tmp_path, monkeypatch):
    monkeypatch.setattr(_probe_common, "OUT", tmp_path)   # where Recorder.save writes result.json
    return _probe_common.Recorder()


def notebook_of(*cells: str, markdown: str | None = None) -> str:
    made = [nbformat.v4.new_markdown_cell(markdown)] if markdown else []
    made += [nbformat.v4.new_code_cell(source) for source in cells]
    for index, cell in enumerate(made):
        cell.id = f"c{index}"
    return nbformat.writes(nbformat.v4.new_notebook(cells=made))


def converted(folder, filename="train.py") -> str:
    return (folder / filename).read_text(encoding="utf-8")


# --- the module filter -------------------------------------------------------------------------

MODULE_SOURCE = '''"""A docstring."""
import os
from pathlib import Path

MODEL_ID = "qwen/Qwen2-7B-Instruct"
MAX_LENGTH: int = 384
A, B = 1, 2
COUNT = 0
COUNT += 1
model_dir = download("everything")
trainer = None; trainer.train()


@decorated
def f(x):
    return x + MAX_LENGTH


class Thing:
    pass


for i in range(3):
    print(i)
print("training...",
      "still training")
if __name__ == "__main__":
    f(1)
if "__main__" == __name__:
    f(2)
if __name__ == "__main__":
    f(3)
else:
    train()
if torch.cuda.is_available():
    DEVICE = "cuda"
'''


def test_module_filter_keeps_definitions_and_comments_out_the_rest():
    out = notebooks.definitions_only(MODULE_SOURCE)
    source_lines, out_lines = MODULE_SOURCE.split("\n"), out.split("\n")
    assert len(out_lines) == len(source_lines)   # line numbers in tracebacks stay those of the conversion
    kept = {n for n, (a, b) in enumerate(zip(source_lines, out_lines), 1) if a == b}
    dropped = {n for n in range(1, len(source_lines) + 1) if n not in kept}
    text = dict(enumerate(source_lines, 1))
    for needle in ('"""A docstring."""', "import os", "from pathlib import Path", 'MODEL_ID = "qwen/',
                   "MAX_LENGTH: int = 384", "A, B = 1, 2", "COUNT = 0", "COUNT += 1", "@decorated",
                   "def f(x):", "    return x + MAX_LENGTH", "class Thing:", '    f(1)', '    f(2)'):
        assert any(text[n].startswith(needle) for n in kept), needle
    for needle in ("model_dir = ", "trainer = None; trainer.train()", "for i in range(3):", "    print(i)",
                   'print("training...",', '      "still training")', "    f(3)", "else:", "    train()",
                   "if torch.cuda", '    DEVICE = "cuda"'):
        assert any(text[n].startswith(needle) for n in dropped), needle
    assert all(out_lines[n - 1].startswith("#") for n in dropped)
    assert out_lines[source_lines.index('print("training...",')].startswith(notebooks.NOT_RUN)
    namespace = {"download": None, "decorated": lambda fn: fn}
    exec(compile(out, "train.py", "exec"), namespace)   # nothing but definitions runs
    assert namespace["f"](1) == 385 and (namespace["A"], namespace["COUNT"]) == (1, 1) and "model_dir" not in namespace


def test_magics_are_commented_and_top_level_cells_do_not_run(tmp_path, rec):
    (tmp_path / "train.ipynb").write_text(notebook_of(
        "%pip install peft==0.11.1\n!pip install modelscope\nimport os",
        "%%capture\nMAX_LENGTH = 384",
        "def f():\n    return MAX_LENGTH",
        "files = !ls\nraise SystemExit('top-level code ran')",
        markdown="# 训练 / training"), encoding="utf-8")
    notebooks.use_notebooks(rec, NOTEBOOKS["qwen2_lora"], tmp_path)
    text = converted(tmp_path)
    for magic in ("# %pip install peft==0.11.1", "# !pip install modelscope", "# %%capture", "# files = !ls"):
        assert magic in text, magic
    namespace = {"__name__": "train"}
    exec(compile(text, "train.py", "exec"), namespace)
    assert namespace["f"]() == 384
    assert rec.steps["notebooks"]["value"]["train.py"]["graded"] == "train.ipynb"


def test_cell_magics_bodies_are_not_code(tmp_path, rec):
    """%%writefile and %%bash bodies never run as Python (Jupyter writes or hands them to bash);
    %%time and %%capture bodies do, as IPython runs them."""
    (tmp_path / "chatBot.ipynb").write_text(notebook_of(
        "%%writefile chatBot.py\nraise SystemExit('a %%writefile body ran')",
        "%%bash\nexit 3",
        "  %%html\n<b>x</b>",
        "%%time\ntimed = 1",
        "%%capture\ncaptured = 2"), encoding="utf-8")
    notebooks.use_notebooks(rec, NOTEBOOKS["qwen2_chat"], tmp_path)
    text = converted(tmp_path, "chatBot.py")
    assert "# raise SystemExit('a %%writefile body ran')" in text and "# <b>x</b>" in text
    namespace = {"__name__": "__main__"}
    exec(compile(text, "chatBot.py", "exec"), namespace)
    assert (namespace["timed"], namespace["captured"]) == (1, 2)


def test_a_script_is_converted_whole(tmp_path, rec):
    notebook = notebook_of("!pip install streamlit\nimport os", "greeting = 'hi'\nprint(greeting)")
    (tmp_path / "chatBot.ipynb").write_text(notebook, encoding="utf-8")
    notebooks.use_notebooks(rec, NOTEBOOKS["qwen2_chat"], tmp_path)
    text = converted(tmp_path, "chatBot.py")
    assert "# !pip install streamlit" in text and "\ngreeting = 'hi'\nprint(greeting)\n" in text


# --- the stub notebooks ------------------------------------------------------------------------

@pytest.mark.parametrize("assignment, filename", STUB_FILES)
def test_stub_notebook_converts_back_to_the_stub(assignment, filename, tmp_path):
    folder = REPO / "assignments" / assignment
    stub = (folder / filename).read_text(encoding="utf-8")
    notebook = folder / filename.replace(".py", ".ipynb")
    nb = notebooks.read_notebook(notebook)   # valid nbformat
    assert [c.id for c in nb.cells] == [f"cell-{i}" for i in range(len(nb.cells))]
    assert nb.cells[-1].source.startswith(('if __name__ == "__main__":', "# 如果 session_state"))
    back = notebooks.convert(nb, notebook.name, NOTEBOOKS[assignment][filename])

    def code(source):   # the module's statements, its docstring aside (that one is the markdown cell)
        body = ast.parse(source).body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]
        return ast.dump(ast.Module(body=body, type_ignores=[]))

    assert code(back) == code(stub)
    docstring = ast.get_docstring(ast.parse(stub))
    assert (nb.cells[0].cell_type == "markdown" and nb.cells[0].source == docstring) if docstring else True


def test_stub_notebooks_are_deterministic_and_split_by_block():
    source = (REPO / "assignments" / "qwen2_lora" / "train.py").read_text(encoding="utf-8")
    assert stubs.stub_notebook(source) == stubs.stub_notebook(source)
    nb = nbformat.reads(stubs.stub_notebook(source), as_version=4)
    nbformat.validate(nb)
    firsts = [c.source.split("\n")[0] for c in nb.cells[1:]]
    assert firsts[0] == "import os" and "from transformers import" in nb.cells[1].source   # imports together
    assert firsts[1] == 'MODEL_ID = "qwen/Qwen2-7B-Instruct"'
    assert [line for line in firsts if line.startswith("def ")] == [
        "def download_model() -> str:", "def build_records() -> list:",
        "def process_func(example: dict, tokenizer) -> dict:", "def build_lora_config() -> LoraConfig:",
        "def build_training_args(output_dir: str = LORA_PATH) -> TrainingArguments:",
        "def train(model_dir: str, output_dir: str = LORA_PATH, args: TrainingArguments = None) -> Trainer:"]
    assert firsts[-1] == 'if __name__ == "__main__":'
    assert [c.source for c in nb.cells[1:]] == stubs.notebook_blocks(source)[1]   # jupytext kept each block as it is


def test_placeholders_are_the_ones_the_stubs_write():
    todo, failing = stubs.PLACEHOLDERS[".py"]
    assert todo.startswith(notebooks.PLACEHOLDER_TODO) and failing.startswith(notebooks.PLACEHOLDER_RAISE)


# --- which file is graded ----------------------------------------------------------------------

STUB_PY = (REPO / "assignments" / "qwen2_lora" / "train.py").read_text(encoding="utf-8")
STUB_NB = (REPO / "assignments" / "qwen2_lora" / "train.ipynb").read_text(encoding="utf-8")
FILLED_PY = "MAX_LENGTH = 1\n"
FILLED_NB = notebook_of("MAX_LENGTH = 2")
HALF_NB = notebook_of("MAX_LENGTH = 3", 'def f():\n    raise NotImplementedError("请完成 f / implement f")')


@pytest.mark.parametrize("py, notebook, graded", [
    (None, FILLED_NB, "train.ipynb"),       # only the notebook
    (STUB_PY, FILLED_NB, "train.ipynb"),    # the student filled the notebook
    (STUB_PY, HALF_NB, "train.ipynb"),      # ... partly: still fewer placeholders than the stub
    (FILLED_PY, STUB_NB, "train.py"),       # the student filled the .py
    (FILLED_PY, FILLED_NB, "train.py"),     # both filled: the .py wins
    (STUB_PY, STUB_NB, "train.py"),         # neither: the .py (and its NotImplementedError)
    (FILLED_PY, "not a notebook", "train.py"),   # a filled .py beside a broken notebook: the .py
], ids=["only-notebook", "notebook-filled", "notebook-half-filled", "py-filled", "both-filled", "neither",
        "py-filled-notebook-broken"])
def test_which_file_is_graded(py, notebook, graded, tmp_path, rec):
    if py is not None:
        (tmp_path / "train.py").write_text(py, encoding="utf-8")
    (tmp_path / "train.ipynb").write_text(notebook, encoding="utf-8")
    used = notebooks.use_notebooks(rec, NOTEBOOKS["qwen2_lora"], tmp_path)
    assert used["train.py"]["graded"] == graded and rec.steps["notebooks"]["value"] == used
    assert not rec.unusable
    text = converted(tmp_path)
    if graded == "train.py":
        assert text == py
    else:
        assert text.startswith(notebooks.HEADER["module"].format(notebook="train.ipynb"))
        assert "MAX_LENGTH = " in text


def test_no_notebook_changes_nothing(tmp_path, rec):
    (tmp_path / "train.py").write_text(STUB_PY, encoding="utf-8")
    assert notebooks.use_notebooks(rec, NOTEBOOKS["qwen2_lora"], tmp_path) == {} and "notebooks" not in rec.steps
    assert converted(tmp_path) == STUB_PY


# --- broken notebooks --------------------------------------------------------------------------

@pytest.mark.parametrize("content, says", [
    (b"print('hello')\n", "不是 JSON"),
    (b"\xff\xfe not utf-8", "UTF-8"),
    (b"[1, 2]", "nbformat 4"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}}).encode(), "nbformat 4"),
    (notebook_of("import os", "def f(:\n    pass").encode(), "第 2 个单元格第 1 行"),
    (b'{"cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "嵌套过深"),
    (notebook_of("import os", "x = '@@'").replace("@@", "\\ud800").encode(), "surrogate"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                 "cells": [{"cell_type": "code", "source": [1, 2], "metadata": {}, "outputs": [],
                            "execution_count": None, "id": "a"}]}).encode(), "nbformat 4"),
    # compile() refuses a NUL byte (ValueError before Python 3.12, SyntaxError since)
    (notebook_of("import os", "x = 1\0").encode(), "train.ipynb"),
], ids=["not-json", "not-utf8", "json-list", "no-cells", "cell-does-not-compile", "nested-past-the-limit",
        "lone-surrogate", "source-of-numbers", "nul-byte"])
def test_a_broken_notebook_is_a_bilingual_error_naming_it(content, says, tmp_path, rec, monkeypatch):
    (tmp_path / "train.py").write_text(STUB_PY, encoding="utf-8")   # the stub beside it: the notebook was the work
    (tmp_path / "train.ipynb").write_bytes(content)
    notebooks.use_notebooks(rec, NOTEBOOKS["qwen2_lora"], tmp_path)
    error = rec.unusable["train.py"]
    assert says in error and error.count("train.ipynb") >= 2 and " / " in error   # Chinese / English
    assert "Jupyter" in error and ("submit train.py instead" in error or "fix it" in error)
    monkeypatch.setattr(_probe_common, "SUBMISSION", tmp_path)
    assert _probe_common.check_source("train.py", rec, "import_train") is None   # not the stub behind it
    assert rec.steps["import_train"] == {"ok": False, "error": error}
    assert converted(tmp_path) == STUB_PY


def test_a_broken_notebook_is_graded_through_the_runner(tmp_path):
    """The real runner, sandbox and checks: the failed checks name the notebook."""
    submission = make_submission(tmp_path / "alice", base="stub", assignment="qwen2_lora",
                                 files={"qwen2_lora/train.ipynb": "{ this is not json"}, drop=["qwen2_lora/train.py"])
    result, checks = grade(submission, tmp_path / "out", assignment="qwen2_lora")
    assert result.score == 0
    failed = [c for c in checks.values() if c.status == "failed"]
    assert failed and any("train.ipynb" in c.output and "不是 JSON" in c.output for c in failed)
