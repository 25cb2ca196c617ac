"""Files a submission or its outputs hold, read as bounded data: a regular file (never a link), under
a size limit, valid UTF-8 JSON holding an object. A file that is not fails the check, saying why."""
from __future__ import annotations

import json
from pathlib import Path

from grader.plugin import fail
# the shape of a record: written once for both sides of the sandbox's wall (the probes' contracts use it)
from grader.probes.shapes import NUMBER, Opt, conforms  # noqa: F401  (public names of the judge library)

SAVE_HINT = ("：训练结束后请用 model.save_pretrained(output_dir) 保存。",
             ": save it with model.save_pretrained(output_dir) after training.")


def regular_file(path: Path, name: str, limit: int, missing: tuple[str, str] = ("", "")) -> Path:
    """``path`` if it is a regular file of at most ``limit`` bytes; ``missing``: what to add, zh and en,
    when it is not there."""
    if path.is_symlink() or not path.is_file():
        fail(f"没有找到 {name}（或它不是普通文件）{missing[0] or '。'}",
             f"{name} is missing (or is not a regular file){missing[1] or '.'}")
    if path.stat().st_size > limit:
        fail(f"{name} 太大（{path.stat().st_size} 字节）。", f"{name} is too large ({path.stat().st_size} bytes).")
    return path


# deeper than anything the probes or the course's files write; what the judge then walks stays
# far from Python's recursion limit
MAX_DEPTH = 64


def read_json_object(path: Path, name: str, limit: int, missing: tuple[str, str] = ("", ""), object_hook=None) -> dict:
    path = regular_file(path, name, limit, missing)
    too_deep = (f"{name} 嵌套过深（超过 {MAX_DEPTH} 层）。", f"{name} is nested too deeply (over {MAX_DEPTH} levels).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_hook=object_hook)
    except RecursionError:   # past the parser's own limit
        fail(*too_deep)
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{name} 不是合法的 JSON：{exc}", f"{name} is not valid JSON: {exc}")
    if not isinstance(data, dict):
        fail(f"{name} 应是一个 JSON 对象。", f"{name} must hold a JSON object.")
    if depth(data) > MAX_DEPTH:
        fail(*too_deep)
    return data


def depth(value) -> int:
    """How deeply lists and objects nest in ``value`` (walked without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:   # past the bound the answer is known
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
