"""Shared by the probes: trusted code of ours that runs *inside* the sandbox, beside student code.

Everything a probe writes is a claim the judge checks; nothing here is trusted by the judge.
Each step is recorded separately, so one broken function costs only the checks that need it.
"""
from __future__ import annotations

import enum
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path

# the judge's sign that the sandbox started our probe (grader.sandbox.STARTED_MARKER): printed before
# any student code runs, so a run without it failed in the sandbox, which is never the student's fault
print("[grader-probe-started]", flush=True)

SUBMISSION = Path(os.environ.get("GRADER_SUBMISSION", "."))
OUT = Path(os.environ.get("GRADER_OUT", "."))
MAX_STR = 20_000
_SAVING = threading.Lock()
_clock = time.monotonic   # taken before any student code runs, which may replace time.monotonic
# where the student's folder joins sys.path: after ours (the probe's own folder and this one, which
# start.py puts first), so no module of the student's replaces one of ours that a probe imports late
_OURS = os.path.dirname(os.path.abspath(__file__))
AFTER_OURS = sys.path.index(_OURS) + 1 if _OURS in sys.path else 1


class Recorder:
    def __init__(self):
        self.steps: dict[str, dict] = {}
        # filename -> why it cannot be graded (a notebook that did not convert: notebooks.py)
        self.unusable: dict[str, str] = {}

    def step(self, name: str, fn, *args, **kwargs):
        """Run ``fn``; record its JSON-able value or the student's error. Returns the raw value."""
        started = _clock()   # "s": the step's seconds, for benchmarks' breakdowns only
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt from student code too
            self.steps[name] = {"ok": False, "error": describe_error(exc), "s": _clock() - started}
            self.save()
            return None
        self.steps[name] = {"ok": True, "value": to_jsonable(value), "s": _clock() - started}
        self.save()
        return value

    def note(self, name: str, value, s: float | None = None) -> None:
        """Record ``value``; ``s``: the seconds it took, where the probe timed it (for benchmarks only)."""
        self.steps[name] = {"ok": True, "value": to_jsonable(value), **({"s": s} if s is not None else {})}
        self.save()

    def fail(self, name: str, message: str) -> None:
        self.steps[name] = {"ok": False, "error": message}
        self.save()

    def save(self) -> None:  # written after every step: a later crash or kill keeps what was done
        with _SAVING:   # a probe's client thread and the student's server thread both record
            tmp = OUT / "result.json.tmp"
            tmp.write_text(json.dumps({"steps": dict(self.steps)}, ensure_ascii=False))
            os.replace(tmp, OUT / "result.json")


def probe_main(modes: dict, adapt=lambda mode: True) -> None:
    """Every probe's start and end: its mode (the first argument, one of ``modes``: its contract.py's),
    a Recorder, the judge's inputs, the notebooks the student filled (X.ipynb -> X.py), the course's
    machine mapped onto this one where ``adapt(mode)`` (a DeepSpeed launch maps it in each rank instead), then
    ``modes[mode](rec, given)``, then finish(). The probe imports torch, transformers and what else it
    uses before calling it: the student's folder joins the path only in the mode's function."""
    import contract   # the assignment's probe/contract.py, beside the probe (start.py put it on the path)
    from notebooks import use_notebooks
    mode = sys.argv[1]
    if set(modes) != set(contract.MODES) or mode not in modes:   # the grader's bug: tests/test_probe_contract.py
        raise SystemExit(f"grader bug: the probe's modes {sorted(modes)} (run as {mode!r}) are not its "
                         f"contract's {sorted(contract.MODES)}")
    rec = Recorder()
    rec.note("started", mode)
    given = read_input()
    use_notebooks(rec, given["notebooks"])
    if adapt(mode):
        adapt_to_course(rec)
    try:
        modes[mode](rec, given)
    except BaseException:
        traceback.print_exc()   # the probe's own bug, in the run's output: finish() ends the process either way
        raise
    finally:
        finish(rec)


def finish(rec: Recorder) -> None:
    """Say the probe got to its end, and end the process at once: everything is saved, a student
    thread that hangs must not keep it alive, and the interpreter's own exit after torch and
    transformers costs more than a second of tearing down modules we no longer need."""
    rec.note("finished", True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def adapt_to_course(rec: Recorder) -> None:
    """The course's machine for the student's code (hooks/course_env.py), before any of it runs;
    each adaptation applied is recorded for the report."""
    from hooks import course_env
    course_env.on_change(lambda adaptations: rec.note("adaptations", adaptations))
    course_env.install(os.environ.get("GRADER_DEVICE", "cpu"))


def record_loads(context=dict) -> list[dict]:
    """Record every from_pretrained of a model or a tokenizer from now on: {"kind": "model" or
    "tokenizer", **context()} each (the FastAPI probe adds how many requests had been sent by then)."""
    import transformers
    loads: list[dict] = []

    def counted(kind, original):
        def load(cls, *args, **kwargs):
            loads.append({"kind": kind, **context()})
            return original(cls, *args, **kwargs)
        return classmethod(load)

    transformers.PreTrainedModel.from_pretrained = counted(
        "model", transformers.PreTrainedModel.from_pretrained.__func__)
    transformers.PreTrainedTokenizerBase.from_pretrained = counted(
        "tokenizer", transformers.PreTrainedTokenizerBase.from_pretrained.__func__)
    return loads


GENERATE_KWARGS = ("max_new_tokens", "max_length", "min_new_tokens", "do_sample", "temperature", "top_p",
                   "top_k", "repetition_penalty", "num_beams")


def record_generate(seeds: list[int]) -> list[dict]:
    """Record every `generate` call from now on (prompt ids, the plain arguments, the seed we set
    before it, the model's dtype, the output ids), so the judge can replay it on its own model."""
    import torch
    import transformers
    calls: list[dict] = []
    generate = transformers.GenerationMixin.generate

    def recorded_generate(self, *args, **kwargs):
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        seed = seeds[len(calls) % len(seeds)]
        torch.manual_seed(seed)  # the judge replays this call with the same seed
        output = generate(self, *args, **kwargs)
        sequences = getattr(output, "sequences", output)
        calls.append({
            "input_ids": input_ids[0].tolist() if input_ids is not None else None,
            "kwargs": {k: kwargs[k] for k in GENERATE_KWARGS if k in kwargs and isinstance(kwargs[k], (int, float, bool))},
            "seed": seed, "dtype": str(self.dtype).removeprefix("torch."),
            "output_ids": sequences[0].tolist(),
        })
        return output

    transformers.GenerationMixin.generate = recorded_generate
    return calls


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return f"还没有完成：{exc} / not implemented yet: {exc}"
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code}): 代码调用了 sys.exit / the code called sys.exit"
    # the student's frames only: our probe's own frames would only confuse them
    probes = str(Path(__file__).resolve().parent)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(probes)]
    text = "".join(traceback.format_list(frames[-8:]) + traceback.format_exception_only(exc))
    return text.replace(str(SUBMISSION) + "/", "")[-4000:]


def to_jsonable(value, depth: int = 0):
    if depth > 20:
        return "<too deep>"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value[:MAX_STR]
    if isinstance(value, dict):
        return {str(k)[:200]: to_jsonable(v, depth + 1) for k, v in list(value.items())[:5000]}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v, depth + 1) for v in list(items)[:100_000]]
    if hasattr(value, "tolist"):
        return to_jsonable(value.tolist(), depth + 1)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, depth + 1)
    return repr(value)[:MAX_STR]


def encoding_as_data(result) -> dict:
    """What process_func returned, as the judge reads it: int lists of the three keys it has."""
    if not isinstance(result, dict):
        raise TypeError(f"process_func must return a dict, got {type(result).__name__}")
    return {k: [int(x) for x in result[k]] for k in ("input_ids", "attention_mask", "labels") if k in result}


def check_source(filename: str, rec: Recorder, step: str) -> Path | None:
    """SUBMISSION/filename if it exists, is UTF-8 and compiles; else a clear bilingual failure."""
    path = SUBMISSION / filename
    if filename in rec.unusable:
        rec.fail(step, rec.unusable[filename])
        return None
    if not path.is_file():
        rec.fail(step, f"缺少文件 {filename}：请把它放在作业文件夹里。 / missing file {filename}: "
                       f"put it in the assignment folder.")
        return None
    raw = path.read_bytes()
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        rec.fail(step, f"{filename} 不是 UTF-8 编码（第 {exc.start} 字节）：请用 UTF-8 重新保存。 / "
                       f"{filename} is not UTF-8 (byte {exc.start}): save it as UTF-8.")
        return None
    try:
        compile(source, filename, "exec")
    except SyntaxError as exc:
        rec.fail(step, f"{filename} 第 {exc.lineno} 行有语法错误：{exc.msg}。请先运行 python {filename} 修正。 / "
                       f"syntax error in {filename} line {exc.lineno}: {exc.msg}. Run python {filename} "
                       f"to see it and fix it.")
        return None
    return path


def load_student_module(filename: str, rec: Recorder, step: str):
    """Import SUBMISSION/filename as a module, with a clear bilingual message when it cannot be."""
    path = check_source(filename, rec, step)
    if path is None:
        return None
    if str(SUBMISSION) not in sys.path:
        sys.path.insert(AFTER_OURS, str(SUBMISSION))
    name = Path(filename).stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module

    def do_import():
        spec.loader.exec_module(module)
        return filename

    if rec.step(step, do_import) is None:
        return None
    return module


def read_input() -> dict:
    path = OUT / "input.json"
    return json.loads(path.read_text()) if path.exists() else {}
