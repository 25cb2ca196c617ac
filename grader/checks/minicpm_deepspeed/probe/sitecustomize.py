"""Our hook in every Python process that the student's train.sh starts (minicpm_deepspeed).

The train probe puts this folder first on PYTHONPATH, so Python imports it at start-up in the
`deepspeed` launcher, in deepspeed.launcher.launch and in each rank's train.py alike. It is trusted
code in an untrusted process: what it writes is a claim the judge checks against the saved weights.

- in the launcher it notes that the real `deepspeed` runner started (OUT/ds-launcher.json);
- in a rank it applies the grading profile (GRADER_DS_PROFILE, JSON): TrainingArguments overrides
  (lr, epochs, logging, no checkpoints) set before __post_init__ fills the "auto" fields of the
  DeepSpeed config from them; in that config the values TrainingArguments own become "auto" and the
  profile's scheduler replaces the student's, so no student choice (WarmupLR, explicit values that
  agree with their own arguments, no scheduler) can starve the stand-in; the course's machine as
  course_env.py gives it (on a CPU profile float32 on the CPU, whatever device code says); py-cpuinfo
  answers with the judge's reading of the CPU (host.py);
- it records what the student asked for, what deepspeed.initialize really built (ZeRO stage,
  offload, optimizer classes) and what Trainer.train logged (OUT/ds-rank<N>.json).
"""
import copy
import json
import os
import sys

import course_env

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
        overrides = _PROFILE.get("training_args", {})
        _note(student_args={k: getattr(self, k, None) for k in STUDENT_ARGS})
        for name, value in overrides.items():
            setattr(self, name, value)
        original_post_init(self)
        _note(training_args={k: getattr(self, k, None) for k in
                             ("learning_rate", "num_train_epochs", "per_device_train_batch_size",
                              "gradient_accumulation_steps", "output_dir", "deepspeed", "local_rank")})

    args_cls.__post_init__ = post_init


# what the student's own TrainingArguments said, before the profile: the judge holds explicit
# DeepSpeed values to them ("auto" or equal)
STUDENT_ARGS = ("learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "max_grad_norm",
                "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "fp16", "bf16", "num_train_epochs",
                "gradient_checkpointing")


def _patch_modeling_utils(module) -> None:
    model_cls = module.PreTrainedModel
    original_from_pretrained = model_cls.from_pretrained.__func__

    def from_pretrained(cls, path, *args, **kwargs):
        asked = kwargs.get("dtype", kwargs.get("torch_dtype"))
        if _PROFILE.get("device") == "cpu":
            kwargs = course_env.cpu_load_kwargs(kwargs)
        _note(from_pretrained={"path": str(path), "class": cls.__name__, "dtype_asked": str(asked)})
        return original_from_pretrained(cls, path, *args, **kwargs)

    model_cls.from_pretrained = classmethod(from_pretrained)


# DeepSpeed config keys whose values TrainingArguments own (HF fills "auto" from them)
ARGS_OWNED = ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "train_batch_size",
              "gradient_clipping", "optimizer.params.lr", "optimizer.params.betas", "optimizer.params.eps",
              "optimizer.params.weight_decay", "fp16.enabled", "bf16.enabled")


def pinned_config(config: dict, profile: dict) -> dict:
    """The student's DeepSpeed config under the grading profile: the values the profile's
    TrainingArguments own are "auto" (filled from them), its scheduler replaces the student's, and on
    a CPU the optimizer's pinned memory is off. ZeRO stage and offload stay the student's."""
    config = copy.deepcopy(config)
    for key in ARGS_OWNED:
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node and node[leaf] != "auto":
            node[leaf] = "auto"
    scheduler = profile.get("scheduler")
    if scheduler and config.get("scheduler") != scheduler:
        was = (config.get("scheduler") or {}).get("type", "none")
        config["scheduler"] = copy.deepcopy(scheduler)
        if was != scheduler["type"]:
            course_env.record("ds_scheduler", f"DeepSpeed 调度器 {was} 在评分时换成评分配置的 {scheduler['type']}"
                                               f"（替身小模型需要它才能学会；你的配置另有检查）",
                               f"the DeepSpeed scheduler {was} is replaced by the profile's {scheduler['type']} "
                               f"for grading (the stand-in needs it to learn; your config is checked on its own)")
    offload = (config.get("zero_optimization") or {}).get("offload_optimizer")
    if profile.get("device") == "cpu" and isinstance(offload, dict) and offload.get("pin_memory"):
        offload["pin_memory"] = False
        course_env.record("pin_memory", "CPU 评分时关闭 offload_optimizer.pin_memory（锁页内存有限）",
                           "offload_optimizer.pin_memory is off on the CPU (locked memory is scarce)")
    return config


def _patch_ds_config(module) -> None:
    config_cls = module.HfTrainerDeepSpeedConfig
    original_init = config_cls.__init__

    def init(self, config_file_or_dict):
        config = config_file_or_dict
        if not isinstance(config, dict):
            with open(config, encoding="utf-8") as handle:
                config = json.load(handle)
        if "student_ds_config" not in _facts:   # the second call passes the pinned, filled dict
            _note(student_ds_config=config)
        original_init(self, pinned_config(config, _PROFILE))

    config_cls.__init__ = init


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


def _patch_cpuinfo(cpuinfo) -> None:
    """py-cpuinfo answers with the judge's own reading of this machine's CPU (grader/checks/
    minicpm_deepspeed/host.py): the same answer, without a process that sleeps 1 s for each of the
    six times DeepSpeed asks in a launch."""
    known = _PROFILE.get("cpu_info")
    if isinstance(known, dict) and known:
        cpuinfo.get_cpu_info = lambda: copy.deepcopy(known)
        cpuinfo.get_cpu_info_json = lambda: json.dumps(known)


# each class is patched when its own module has run, never importing anything early (transformers
# and peft import each other part-way through)
_PATCHES = {"transformers.training_args": _patch_training_args,
            "transformers.modeling_utils": _patch_modeling_utils,
            "transformers.trainer": _patch_trainer,
            "transformers.integrations.deepspeed": _patch_ds_config,
            "modelscope.hub.snapshot_download": course_env.patch_modelscope,
            "deepspeed": _patch_deepspeed,
            "cpuinfo": _patch_cpuinfo}


def _on_torch(torch) -> None:
    """Seed torch as soon as a process imports it: train.py builds LoRA's weights before the Trainer
    seeds, so each grading drew a new init and its verdict could differ from the last (measured:
    benchmarks/answer_margin.py --seed-init gives identical losses under any threads and load)."""
    torch.manual_seed(int(_PROFILE.get("training_args", {}).get("seed", 42)))
    if _PROFILE.get("device") == "cpu":
        course_env.patch_torch()


_PATCHES["torch"] = _on_torch


def _and_course_paths(patch):
    def both(module):
        if patch is not None:
            patch(module)
        course_env.patch_course_paths(module)
    return both


for _name in course_env.LOADER_MODULES:   # the course's model paths, where no mount shows them
    _PATCHES[_name] = _and_course_paths(_PATCHES.get(_name))


def _own_master_port() -> None:
    """Without a network namespace, two gradings' launches would both take DeepSpeed's port 29500
    (or the one train.sh names): each rank of this run uses the run's own port instead."""
    ports = course_env.own_ports()
    if ports and os.environ.get("MASTER_PORT") and os.environ["MASTER_PORT"] != str(ports[0]):
        os.environ["MASTER_PORT"] = str(ports[0])
        course_env.record("master_port", "DeepSpeed 的通信端口换成本次评分专用的端口（此沙箱模式没有独立网络）",
                          "DeepSpeed's master port is this grading's own (this sandbox mode has no network namespace)")


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
    course_env.on_change(lambda adaptations: _note(adaptations=adaptations))
    _own_master_port()
    argv0 = os.path.basename(sys.argv[0]) if getattr(sys, "argv", None) else ""
    if argv0 == "deepspeed":
        _save("ds-launcher.json", {"argv": sys.argv[1:], "pid": os.getpid()})
    sys.meta_path.insert(0, _AfterImport())
    for _name, _patch in _PATCHES.items():   # imported already: a warm interpreter's (grader/warm.py)
        if _name in sys.modules and _name not in _patched:
            _patched.add(_name)
            try:
                _patch(sys.modules[_name])
            except Exception as exc:  # never break the student's run: the missing facts say enough
                _note(**{f"hook_error_{_name}": repr(exc)})
