"""The shapes of what crosses the sandbox's wall as JSON, and the contract of a probe mode. Stdlib only:
the probe imports it inside the sandbox (as `shapes`), the judge as `grader.probes.shapes`.

A shape is a type (int never matches a bool, float takes an int too), a tuple of alternatives,
``[shape]`` (a list of such items), ``{key: shape}`` (an object holding at least these keys; ``Opt(shape)``
for one that may be missing), ``None`` or ``object`` (anything).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field


class Opt:
    """In a dict shape: a key that may be missing (and, when present, has this shape)."""

    def __init__(self, shape):
        self.shape = shape

    def __repr__(self) -> str:
        return f"Opt({self.shape!r})"


NUMBER = (int, float)
JSON_TYPES = (str, int, float, bool, dict, list, object)


def conforms(value, shape) -> bool:
    """Whether ``value`` (parsed JSON) has ``shape``. The judge checks a record's shape before it computes
    with it, so a malformed record fails the check that reads it instead of raising in the judge."""
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


def is_shape(shape) -> bool:
    """Whether ``shape`` is written in the language above (a contract's typo is the grader's bug)."""
    if shape is None or shape is type(None) or shape in JSON_TYPES:
        return True
    if isinstance(shape, tuple):
        return bool(shape) and all(is_shape(s) for s in shape)
    if isinstance(shape, list):
        return len(shape) == 1 and is_shape(shape[0])
    if isinstance(shape, dict):
        return all(isinstance(k, str) and is_shape(s.shape if isinstance(s, Opt) else s) for k, s in shape.items())
    return False


@dataclass(frozen=True)
class Mode:
    """One mode of a probe (its first argument): the inputs the judge sends it (input.json: each key and
    its shape; Opt for one it may leave out) and the steps it records (each name and the shape of its
    value; "turn{i}" stands for turn0, turn1, ...). The checks read no other step, and read each one at
    its shape (grader/judge/probe_run.py)."""
    inputs: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)

    def step_shape(self, name: str):
        """The declared shape of step ``name`` (a "{i}" family matches its members), or KeyError."""
        for step, shape in self.steps.items():
            if name == step or ("{i}" in step and re.fullmatch(re.escape(step).replace(r"\{i\}", r"\d+"), name)):
                return shape
        raise KeyError(name)

    def input_problems(self, given: dict) -> list[str]:
        """What is wrong with ``given`` as this mode's inputs: keys not declared, keys missing, values
        of another shape."""
        problems = [f"{key!r} is not declared" for key in given if key not in self.inputs]
        for key, shape in self.inputs.items():
            optional = isinstance(shape, Opt)
            if key not in given:
                if not optional:
                    problems.append(f"{key!r} is missing")
            elif not conforms(given[key], shape.shape if optional else shape):
                problems.append(f"{key!r} is not of shape {shape!r}: {given[key]!r:.120}")
        return problems


# what the shared probe code records (_probe_common.record_generate): every `generate` call, to replay
GENERATE_CALLS = [{"input_ids": [int], "kwargs": dict}]
# what a fine-tuning assignment's process_func returns for one record, as the probes record it
ENCODING = {"input_ids": [int], "attention_mask": [int], "labels": [int]}
