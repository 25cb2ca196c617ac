"""Files a submission or its outputs hold, read as bounded data: a regular file (never a link), under
a size limit, valid UTF-8 JSON holding an object. A file that is not fails the check, saying why."""
from __future__ import annotations

import json
from pathlib import Path

from grader.plugin import fail

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


# ---------------------------------------------------------------- the shape of a record

class Opt:
    """In a dict shape: a key that may be missing (and, when present, has this shape)."""

    def __init__(self, shape):
        self.shape = shape


NUMBER = (int, float)


def conforms(value, shape) -> bool:
    """Whether ``value`` (parsed JSON) has ``shape``: a type (int never matches a bool, float takes
    an int too), a tuple of alternatives, ``[shape]`` (a list of such items), ``{key: shape}`` (an
    object holding at least these keys; Opt(shape) for one that may be missing) or ``object``
    (anything). The judge checks a record's shape before it computes with it, so a malformed record
    fails the check that reads it instead of raising in the judge."""
    if shape is object:
        return True
    if isinstance(shape, tuple):
        return any(conforms(value, s) for s in shape)
    if isinstance(shape, list):
        return isinstance(value, list) and all(conforms(v, shape[0]) for v in value)
    if isinstance(shape, dict):
        return isinstance(value, dict) and all(
            (key not in value and isinstance(s, Opt))
            or (key in value and conforms(value[key], s.shape if isinstance(s, Opt) else s))
            for key, s in shape.items())
    if shape is None or shape is type(None):
        return value is None
    if shape is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if shape is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, shape)
