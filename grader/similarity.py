"""Similarity across a class: which submissions of an assignment share code beyond what the course
gives everyone, and which hand in the very same trained weights. A report for people to read, never
a deduction.

Winnowing fingerprints (copydetect: MOSS's algorithm) over each student's code of an assignment as
one document (its .py and .sh files, a notebook's code cells), tokenized so that renamed variables
and reordered functions still match. Fingerprints that occur in what every student is given or
taught (the stubs in assignments/, the reference in reference/, the code blocks of the course's
tutorials in fixtures/corpus/) are boilerplate and never count, so following the course is never
"similar". The judge only reads these files as text: nothing of a submission runs here.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TUTORIALS = REPO / "fixtures" / "corpus"
CODE_SUFFIXES = (".py", ".sh", ".ipynb")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
SKIPPED_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints", "node_modules"}
MAX_CODE_BYTES = 512 * 1024         # per file: bounds the tokenizer's work on a hostile file
MAX_FILES = 200                     # per student and assignment
MAX_ENTRIES = 20_000                # names looked at per student and assignment
MAX_WEIGHT_BYTES = 2 * 1024 ** 3    # weights hashed per student and assignment
NOISE = 25      # copydetect's default k: matches shorter than 25 filtered characters are noise
# a pair is flagged when it shares this much code of its own (filtered characters, boilerplate
# excluded) and that is at least this share of one side's own code. Measured on tests/test_similarity.py's
# class: honest students who followed the tutorial share at most 211 characters and 26%, the planted
# copy 548 and 99%
FLAG_SHARED = 150
FLAG_SHARE = 0.5
SHOWN_PAIRS = 20                    # per assignment in the HTML (the CSV lists every pair that shares code)


@dataclass
class Pair:
    assignment: str
    a: str
    b: str
    shared: int = 0                         # filtered characters of own code in common
    share_a: float = 0.0                    # of a's own (non-boilerplate) code
    share_b: float = 0.0
    passages_a: str = ""                    # a's code, matches marked (HTML, escaped)
    passages_b: str = ""
    identical: list[str] = field(default_factory=list)   # weights files with the same bytes

    @property
    def flagged(self) -> bool:
        return bool(self.identical) or (self.shared >= FLAG_SHARED and max(self.share_a, self.share_b) >= FLAG_SHARE)

    @property
    def rank(self) -> tuple:
        return (self.flagged, bool(self.identical), self.shared, max(self.share_a, self.share_b))


# ---------------------------------------------------------------- reading a submission as text

def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Regular files under folder with these suffixes, never following a link, in a stable order
    (at most MAX_FILES, looking at no more than MAX_ENTRIES names: a submission may hold millions)."""
    found, seen = [], 0
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        seen += len(dirnames) + len(filenames)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix in suffixes and path.is_file() and not path.is_symlink():
                found.append(path)
        if seen > MAX_ENTRIES or len(found) >= MAX_FILES:
            break
    return found[:MAX_FILES]


def _notebook_code(text: str) -> str:
    """A notebook's code cells; ValueError (or RecursionError, for JSON nested past Python's limit)
    when it is not a notebook."""
    data = json.loads(text)
    cells = data.get("cells", []) if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise ValueError("no list of cells")
    sources = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            if isinstance(source, list) and not all(isinstance(line, str) for line in source):
                raise ValueError("a code cell's source is not text")
            sources.append("".join(source) if isinstance(source, list) else str(source))
    return "\n\n".join(sources)


def code_document(folder: Path, only: Path | None = None, unreadable: list[str] | None = None) -> str:
    """A student's code of one assignment as one Python-lexed document (shell scripts lex well
    enough as Python for fingerprints: names, strings and comments are what the filter drops);
    ``only``: just that one file of the folder. A file that cannot be read (a malformed notebook,
    a vanished file) is left out and named in ``unreadable``: one student's file never costs the
    class its report."""
    parts = []
    for path in [only] if only else _files(folder, CODE_SUFFIXES):
        try:
            if path.stat().st_size > MAX_CODE_BYTES:
                continue
            text = path.read_bytes().decode("utf-8", errors="replace")
            parts.append(_notebook_code(text) if path.suffix == ".ipynb" else text)
        except (OSError, ValueError, RecursionError) as exc:
            if unreadable is not None:
                unreadable.append(f"{path.relative_to(folder)}: {_reason(exc)}")
    return "\n\n".join(parts)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply / 嵌套过深"
    if isinstance(exc, OSError):
        return f"{exc.strerror or type(exc).__name__} / 无法读取"
    return f"not a notebook ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__}) / 不是有效的 notebook"


def _markdown_code(text: str) -> str:
    return "\n\n".join(re.findall(r"```[a-zA-Z]*\n(.*?)```", text, flags=re.S))


def boilerplate_documents() -> list[str]:
    """What every student is given or taught: each stub and reference file, each assignment folder
    of them as one document (so the seams between files, as a student's document has them, count
    too), and the tutorials' code blocks."""
    documents = []
    for base in ("assignments", "reference"):
        for folder in sorted(p for p in (REPO / base).iterdir() if p.is_dir()):
            documents += [code_document(folder)] + [code_document(folder, only=f) for f in _files(folder, CODE_SUFFIXES)]
    documents += [_markdown_code(p.read_text(encoding="utf-8")) for p in sorted(TUTORIALS.glob("*.md"))]
    return documents


def weight_digests(folder: Path, unreadable: list[str] | None = None) -> dict[str, str]:
    """sha256 -> a weights file's path under folder (the last one, where a student has two copies);
    files past MAX_WEIGHT_BYTES in all are left out, files that cannot be read are named in ``unreadable``."""
    found, budget = {}, MAX_WEIGHT_BYTES
    for path in _files(folder, WEIGHT_SUFFIXES):
        try:
            size = path.stat().st_size
            if not size or size > budget:   # not compared: equal sizes are no evidence of equal bytes
                continue
            budget -= size
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError as exc:
            if unreadable is not None:
                unreadable.append(f"{path.relative_to(folder)}: {_reason(exc)}")
            continue
        found[digest.hexdigest()] = str(path.relative_to(folder))
    return found


# ---------------------------------------------------------------- comparing

def _fingerprint(text: str, boilerplate=None):
    from copydetect import CodeFingerprint

    # language given: the document's own name decides nothing; window 1 keeps every k-gram (exact)
    return CodeFingerprint("submission.py", NOISE, 1, boilerplate=boilerplate, language="python",
                           fp=io.StringIO(text))


def _boilerplate_hashes():
    import numpy as np

    hashes = [h for doc in boilerplate_documents() if doc.strip() for h in _fingerprint(doc).hashes]
    return np.unique(np.array(hashes, dtype=np.int64))


def _marked(fingerprint, slices) -> str:
    from copydetect.utils import highlight_overlap

    text, _share = highlight_overlap(fingerprint.raw_code, slices, "<mark>", "</mark>", truncate=4, escape_html=True)
    return text


def compare_class(students: list[Path], assignments: tuple[str, ...],
                  unreadable: dict[str, list[str]] | None = None) -> list[Pair]:
    """Every pair of students per assignment that shares own code or weights, most similar first.
    ``unreadable``: filled with {assignment: ["student/file: why"]} for what had to be left out."""
    from copydetect import compare_files

    boilerplate = _boilerplate_hashes()
    given = {d for base in ("assignments", "reference") for a in assignments for d in weight_digests(REPO / base / a)}
    pairs = []
    for assignment in assignments:
        holders = [s for s in students if (s / assignment).is_dir() and not (s / assignment).is_symlink()]
        prints, weights = {}, {}
        for student in holders:
            left_out: list[str] = []
            document = code_document(student / assignment, unreadable=left_out)
            try:
                prints[student.name] = _fingerprint(document, boilerplate) if document.strip() else None
            except Exception as exc:  # noqa: BLE001 -- the lexer on text a student wrote: never the class's failure
                prints[student.name] = None
                left_out.append(f"(code) {type(exc).__name__} / 无法分析")
            digests = weight_digests(student / assignment, unreadable=left_out)
            weights[student.name] = {d: p for d, p in digests.items() if d not in given}
            if unreadable is not None and left_out:
                unreadable.setdefault(assignment, []).extend(f"{student.name}/{item}" for item in left_out)
        for a, b in combinations(sorted(prints), 2):
            pair = Pair(assignment, a, b)
            pair.identical = sorted(weights[a][d] for d in weights[a].keys() & weights[b].keys())
            fa, fb = prints[a], prints[b]
            if fa is not None and fb is not None and len(fa.hashes) and len(fb.hashes):
                overlap, (share_a, share_b), (slices_a, slices_b) = compare_files(fa, fb)
                if overlap:
                    pair.shared, pair.share_a, pair.share_b = int(overlap), float(share_a), float(share_b)
                    pair.passages_a, pair.passages_b = _marked(fa, slices_a), _marked(fb, slices_b)
            if pair.shared or pair.identical:
                pairs.append(pair)
    return sorted(pairs, key=lambda p: p.rank, reverse=True)


# ---------------------------------------------------------------- the report

def write_report(students: list[Path], out_dir: Path, assignments: tuple[str, ...]) -> list[Pair]:
    """out_dir/similarity.html (the most similar pairs per assignment, passages side by side) and
    out_dir/similarity.csv (every pair that shares code or weights)."""
    from grader.report import _env, _write, write_csv

    unreadable: dict[str, list[str]] = {}
    pairs = compare_class(students, assignments, unreadable)
    by_assignment = {a: [p for p in pairs if p.assignment == a][:SHOWN_PAIRS] for a in assignments}
    _write(out_dir / "similarity.html", _env().get_template("similarity.html.j2").render(
        by_assignment=by_assignment, students=len(students), flag_shared=FLAG_SHARED, flag_share=FLAG_SHARE,
        unreadable=unreadable))
    write_csv(out_dir / "similarity.csv", [
        ["assignment", "student_a", "student_b", "flagged", "shared_chars", "share_a", "share_b", "identical_weights"],
        *([p.assignment, p.a, p.b, int(p.flagged), p.shared, f"{p.share_a:.2f}", f"{p.share_b:.2f}",
           ";".join(p.identical)] for p in pairs)])
    return pairs
