"""The course's machine, as student code expects it: trusted code of ours inside the sandbox.

Students write the course's code for its GPU machines (AutoDL: a CUDA GPU, the model under
/root/autodl-tmp, modelscope online). `install()` makes that code behave there as it would on
such a machine, as far as any check can tell, and records each adaptation it applied so that the
report can say so (a student never edits device code for grading):

- under a CPU profile: 'cuda' devices (`.to('cuda')`, `.cuda()`, on tensors, models and
  BatchEncoding), `device_map` ("auto", "cuda", {"": LOCAL_RANK}, 0), half-precision weights
  (`torch.bfloat16`, `torch.half`: slow or missing CPU kernels, and a stand-in that learns only in
  float32) and `TrainingArguments(bf16=True / fp16=True)` map to the CPU in float32. Under a GPU
  profile none of this is touched.
- under every profile: modelscope's `snapshot_download` resolves offline, in the cache the student
  named (where the sandbox shows the stand-ins, /root/autodl-tmp included) or else in the grader's,
  instead of retrying a hub that cannot be reached.
- in the sandbox modes without a mount namespace (container, process), the course's model paths
  (/root/autodl-tmp/qwen/Qwen2-7B-Instruct ...) do not exist: every `from_pretrained` of a model,
  tokenizer, config or generation config given such a path loads the model the sandbox would have
  shown there (GRADER_COURSE_MODELS), and so does snapshot_download's answer for them.

Loaded by each probe before student code, and by minicpm_deepspeed's sitecustomize.py
(grader/checks/minicpm_deepspeed/probe/) in every process a DeepSpeed launch starts.
"""
from __future__ import annotations

import json
import os
import sys

# key -> bilingual sentence, in the order first applied
ADAPTATIONS: dict[str, str] = {}
_listeners: list = []
_installed: set[str] = set()

HALF = ("float16", "bfloat16", "half")


def record(key: str, zh: str, en: str) -> None:
    if key in ADAPTATIONS:
        return
    ADAPTATIONS[key] = f"{zh} / {en}"
    for listener in _listeners:
        try:
            listener(dict(ADAPTATIONS))
        except Exception:   # a listener must never break the student's run
            pass


def on_change(listener) -> None:
    """Call ``listener(adaptations)`` whenever a new adaptation is applied."""
    _listeners.append(listener)


# ---------------------------------------------------------------- devices (CPU profile only)

def _is_cuda(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower().startswith("cuda")
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True      # a bare index is a CUDA device in torch's .to()
    device_type = getattr(value, "type", None)
    return isinstance(device_type, str) and device_type == "cuda" and type(value).__name__ == "device"


def _to_cpu(args: tuple, kwargs: dict) -> tuple[tuple, dict, bool]:
    changed = False
    if "device" in kwargs and _is_cuda(kwargs["device"]):
        kwargs = {**kwargs, "device": "cpu"}
        changed = True
    if args and _is_cuda(args[0]):
        args = ("cpu", *args[1:])
        changed = True
    return args, kwargs, changed


def _note_device() -> None:
    record("cuda", "代码里的 'cuda' 设备（.to('cuda')、.cuda()）在 CPU 评分配置下映射到 CPU",
            "'cuda' devices in the code (.to('cuda'), .cuda()) run on the CPU under the cpu profile")


def patch_torch() -> None:
    if "torch" in _installed:
        return
    _installed.add("torch")
    import torch

    def to_cpu(original):
        def to(self, *args, **kwargs):
            args, kwargs, changed = _to_cpu(args, kwargs)
            if changed:
                _note_device()
            return original(self, *args, **kwargs)
        return to

    def stay_on_cpu(self, *args, **kwargs):   # .cuda(): already where the code runs
        _note_device()
        return self

    for cls in (torch.Tensor, torch.nn.Module):
        cls.to = to_cpu(cls.to)
        cls.cuda = stay_on_cpu


def _is_half(value) -> bool:
    return str(value).removeprefix("torch.") in HALF


def cpu_load_kwargs(kwargs: dict) -> dict:
    """from_pretrained's arguments with the GPU-only parts mapped to the CPU (recorded)."""
    kwargs = dict(kwargs)
    device_map = kwargs.get("device_map")
    if device_map is not None and device_map != "cpu":
        kwargs.pop("device_map")
        record("device_map", f"from_pretrained 的 device_map={device_map!r} 在 CPU 上改为不指定（整个模型在 CPU）",
                f"from_pretrained's device_map={device_map!r} is dropped on the CPU (the whole model on the CPU)")
    for key in ("dtype", "torch_dtype"):
        if _is_half(kwargs.get(key)):
            import torch
            asked = str(kwargs.pop(key)).removeprefix("torch.")
            kwargs["dtype"] = torch.float32
            record("dtype", f"半精度权重（{asked}）在 CPU 上以 float32 加载（CPU 缺少或很慢的半精度运算）",
                    f"half-precision weights ({asked}) load as float32 on the CPU (missing or slow CPU kernels)")
    return kwargs


def patch_training_args(training_args) -> None:
    """TrainingArguments(bf16=True / fp16=True), as students write for their GPUs, trains in float32:
    transformers refuses both without a GPU ("Your setup doesn't support bf16/gpu")."""
    if "training_args" in _installed:
        return
    _installed.add("training_args")
    args_cls = training_args.TrainingArguments
    original = args_cls.__post_init__

    def post_init(self):
        asked = [name for name in ("bf16", "fp16") if getattr(self, name, False)]
        for name in asked:
            setattr(self, name, False)
        if asked:
            record("mixed_precision", f"TrainingArguments 的 {'/'.join(asked)}=True 在 CPU 上改为 float32 训练",
                    f"TrainingArguments' {'/'.join(asked)}=True trains in float32 on the CPU")
        original(self)

    args_cls.__post_init__ = post_init


def patch_model_loading(modeling_utils) -> None:
    """PreTrainedModel.from_pretrained with cpu_load_kwargs (every Auto class ends there)."""
    if "loading" in _installed:
        return
    _installed.add("loading")
    model_cls = modeling_utils.PreTrainedModel
    original = model_cls.from_pretrained.__func__

    def from_pretrained(cls, *args, **kwargs):
        return original(cls, *args, **cpu_load_kwargs(kwargs))

    model_cls.from_pretrained = classmethod(from_pretrained)


# ---------------------------------------------------------------- models (every profile)

def patch_modelscope(module) -> None:
    """snapshot_download offline: in the cache the student named, else in the grader's."""
    target = getattr(module, "snapshot_download", None)
    if target is None or getattr(target, "_grader_offline", False):
        return
    original = target

    def snapshot_download(model_id, *args, **kwargs):
        kwargs["local_files_only"] = True
        cache_dir = kwargs.get("cache_dir", args[1] if len(args) > 1 else None)
        if cache_dir is not None:   # the course's cache where no mount namespace shows it
            asked = os.path.join(os.fspath(cache_dir), str(model_id))
            mapped = map_course_path(asked)
            if mapped != asked:
                return mapped
        try:
            return original(model_id, *args, **kwargs)
        except Exception:
            grader_cache = os.environ.get("GRADER_MODEL_CACHE")
            if not grader_cache or kwargs.get("cache_dir") == grader_cache:
                raise
            kwargs["cache_dir"] = grader_cache
            path = original(model_id, *args, **kwargs)
            record("model_cache", f"模型 {model_id} 不在你指定的缓存目录中，使用评分器的模型缓存",
                    f"the model {model_id} is not in the cache folder you named: the grader's cache is used")
            return path

    snapshot_download._grader_offline = True
    module.snapshot_download = snapshot_download


def patch_modelscope_now() -> None:
    """Import modelscope's downloader and patch every name it is imported by."""
    import importlib
    import modelscope
    module = importlib.import_module("modelscope.hub.snapshot_download")  # the module, not the function
    patch_modelscope(module)
    sys.modules["modelscope.hub"].snapshot_download = module.snapshot_download
    modelscope.snapshot_download = module.snapshot_download


# ---------------------------------------------------------------- the run's own ports (no network namespace)

def own_ports() -> list[int]:
    """The ports the sandbox gave this run where it has no network namespace (GRADER_PORTS): the
    first for DeepSpeed's master port, the second for a server; empty where ports are private."""
    try:
        return [int(p) for p in os.environ.get("GRADER_PORTS", "").split(",") if p]
    except ValueError:
        return []


# ---------------------------------------------------------------- course paths (no mount namespace)

# the modules whose classes load from a path given first (the Auto classes each have their own copy)
LOADER_MODULES = ("transformers.modeling_utils", "transformers.tokenization_utils_base",
                  "transformers.configuration_utils", "transformers.generation.configuration_utils",
                  "transformers.models.auto.auto_factory", "transformers.models.auto.modeling_auto",
                  "transformers.models.auto.tokenization_auto", "transformers.models.auto.configuration_auto")


def course_models() -> dict[str, str]:
    """Course path -> the model the sandbox shows there, where the sandbox cannot mount it."""
    try:
        return dict(json.loads(os.environ.get("GRADER_COURSE_MODELS") or "{}"))
    except ValueError:
        return {}


def map_course_path(value):
    """The grader's folder for a course path (or a file under it); anything else as it is."""
    if not isinstance(value, (str, os.PathLike)):
        return value
    text = os.fspath(value)
    if not isinstance(text, str):
        return value
    for inside, source in course_models().items():
        if text.rstrip("/") == inside or text.startswith(inside + "/"):
            record("course_path", f"课程路径 {inside} 映射到评分器的模型（此沙箱模式没有挂载命名空间）",
                   f"the course path {inside} loads the grader's model (this sandbox mode has no mount namespace)")
            return source + text.rstrip("/")[len(inside):]
    return value


def patch_course_paths(module) -> None:
    """Each class of ``module`` with its own from_pretrained: the course path mapped first."""
    if not course_models():
        return
    for cls in list(vars(module).values()):
        if not isinstance(cls, type) or "from_pretrained" not in vars(cls):
            continue
        original = vars(cls)["from_pretrained"]
        func = getattr(original, "__func__", None)
        if func is None or getattr(func, "_grader_course_paths", False):
            continue

        def from_pretrained(klass, *args, _func=func, **kwargs):
            if args:
                args = (map_course_path(args[0]), *args[1:])
            if "pretrained_model_name_or_path" in kwargs:
                kwargs["pretrained_model_name_or_path"] = map_course_path(kwargs["pretrained_model_name_or_path"])
            return _func(klass, *args, **kwargs)

        from_pretrained._grader_course_paths = True
        setattr(cls, "from_pretrained", classmethod(from_pretrained))


def patch_course_paths_now() -> None:
    import importlib
    for name in LOADER_MODULES:
        try:
            patch_course_paths(importlib.import_module(name))
        except ImportError:
            pass


def install(device: str) -> None:
    """For a probe, which imports the libraries itself before the student's code runs
    (sitecustomize instead patches each module as it finishes importing)."""
    import transformers.modeling_utils
    import transformers.training_args
    if device == "cpu":
        patch_torch()
        patch_model_loading(transformers.modeling_utils)
        patch_training_args(transformers.training_args)
    patch_course_paths_now()
    patch_modelscope_now()

