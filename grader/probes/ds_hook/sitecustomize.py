"""Our hook in every Python process that the student's train.sh starts (minicpm_deepspeed).

The train probe puts this folder first on PYTHONPATH, so Python imports it at start-up in the
`deepspeed` launcher, in deepspeed.launcher.launch and in each rank's train.py alike. It is trusted
code in an untrusted process: what it writes is a claim the judge checks against the saved weights.

- in the launcher it notes that the real `deepspeed` runner started (OUT/ds-launcher.json);
- in a rank it applies the grading profile (GRADER_DS_PROFILE, JSON): TrainingArguments overrides
  (lr, epochs, logging, no checkpoints) set before __post_init__ fills the "auto" fields of the
  DeepSpeed config from them; on a CPU profile float32 and no device_map (the tutorial's
  device_map={"": LOCAL_RANK} and torch.half are for a GPU);
- it records what deepspeed.initialize really built (ZeRO stage, offload, optimizer classes) and
  what Trainer.train logged (OUT/ds-rank<N>.json).
"""
import json
import os
import sys

_OUT = os.environ.get("GRADER_DS_OUT")
_PROFILE = json.loads(os.environ.get("GRADER_DS_PROFILE") or "{}")
_RANK = os.environ.get("RANK", "x")
_facts: dict = {}
_patched: set = set()


def _save(name: str, facts: dict) -> None:
    if not _OUT:
        return
    try:
        path = os.path.join(_OUT, name)
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(facts, handle, ensure_ascii=False, default=repr)
        os.replace(path + ".tmp", path)
    except OSError:
        pass


def _note(**facts) -> None:
    _facts.update(facts)
    _save(f"ds-rank{_RANK}.json", _facts)


# ---------------------------------------------------------------- patches, applied on import


def _patch_training_args(module) -> None:
    args_cls = module.TrainingArguments
    original_post_init = args_cls.__post_init__

    def post_init(self):
        for name, value in _PROFILE.get("training_args", {}).items():
            setattr(self, name, value)
        original_post_init(self)
        _note(training_args={k: getattr(self, k, None) for k in
                             ("learning_rate", "num_train_epochs", "per_device_train_batch_size",
                              "gradient_accumulation_steps", "output_dir", "deepspeed", "local_rank")})

    args_cls.__post_init__ = post_init


def _patch_modeling_utils(module) -> None:
    model_cls = module.PreTrainedModel
    original_from_pretrained = model_cls.from_pretrained.__func__

    def from_pretrained(cls, path, *args, **kwargs):
        asked = kwargs.get("dtype", kwargs.get("torch_dtype"))
        if _PROFILE.get("device") == "cpu":
            import torch
            kwargs.pop("torch_dtype", None)
            kwargs["dtype"] = torch.float32
            kwargs.pop("device_map", None)
        _note(from_pretrained={"path": str(path), "class": cls.__name__, "dtype_asked": str(asked)})
        return original_from_pretrained(cls, path, *args, **kwargs)

    model_cls.from_pretrained = classmethod(from_pretrained)


def _numel(param) -> int:
    return getattr(param, "ds_numel", None) or param.numel()   # ZeRO-3 partitions leave numel() 0


def _patch_trainer(module) -> None:
    trainer_cls = module.Trainer
    original_train = trainer_cls.train

    def train(self, *args, **kwargs):
        model = self.model
        _note(model={"class": type(model).__name__, "peft": hasattr(model, "peft_config"),
                     "trainable": sum(_numel(p) for p in model.parameters() if p.requires_grad),
                     "total": sum(_numel(p) for p in model.parameters())},
              train_started=True)
        result = original_train(self, *args, **kwargs)
        _note(losses=[e["loss"] for e in self.state.log_history if "loss" in e],
              global_step=self.state.global_step, train_finished=True)
        return result

    trainer_cls.train = train


def _engine_facts(engine) -> dict:
    import torch.distributed as dist
    inner = getattr(engine, "optimizer", None)
    basic = getattr(engine, "basic_optimizer", None)
    return {"zero_stage": engine.zero_optimization_stage(),
            "offload_optimizer_cpu": engine.zero_cpu_offload(),
            "optimizer": type(inner).__name__ if inner is not None else None,
            "basic_optimizer": type(basic).__name__ if basic is not None else None,
            "world_size": engine.world_size,
            "backend": dist.get_backend() if dist.is_initialized() else None,
            "config": engine.config}


def _patch_deepspeed(deepspeed) -> None:
    original_initialize = deepspeed.initialize

    def initialize(*args, **kwargs):
        result = original_initialize(*args, **kwargs)
        try:
            _note(engine=_engine_facts(result[0]))
        except Exception as exc:  # never break the student's run: the missing facts say enough
            _note(hook_error_engine=repr(exc))
        return result

    deepspeed.initialize = initialize


# each class is patched when its own module has run, never importing anything early (transformers
# and peft import each other part-way through)
_PATCHES = {"transformers.training_args": _patch_training_args,
            "transformers.modeling_utils": _patch_modeling_utils,
            "transformers.trainer": _patch_trainer,
            "deepspeed": _patch_deepspeed}


class _AfterImport:
    """A meta-path finder that patches a module once it has finished importing."""

    def find_spec(self, name, path=None, target=None):
        if name not in _PATCHES or name in _patched:
            return None
        sys.meta_path.remove(self)
        try:
            import importlib.util
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        # find_spec is also asked without importing (transformers' is_deepspeed_available()):
        # patch when the module really runs, once
        loader, patch = spec.loader, _PATCHES[name]
        exec_module = loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            if name in _patched:
                return
            _patched.add(name)
            try:  # transformers replaces itself in sys.modules with a lazy module: patch that one
                patch(sys.modules.get(name, module))
            except Exception as exc:  # never break the student's run: the missing facts say enough
                _note(**{f"hook_error_{name}": repr(exc)})

        loader.exec_module = exec_and_patch
        return spec


if _OUT:
    argv0 = os.path.basename(sys.argv[0]) if getattr(sys, "argv", None) else ""
    if argv0 == "deepspeed":
        _save("ds-launcher.json", {"argv": sys.argv[1:], "pid": os.getpid()})
    sys.meta_path.insert(0, _AfterImport())
