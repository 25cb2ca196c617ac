"""The gpu profile's CPU side, as CI can test it without a GPU: profile selection and the model cache,
each assignment's gpu grading, the sandbox's GPU pass-through arguments, the stand-ins with the real
shapes (on the meta device), and shared-base evaluation equal to separate loads for a class of 10."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import recipes
from grader import assignments
from grader.gpu import Gpu, GpuError, list_gpus, unit_gpu
from grader.profiles import REPO, STANDIN_MARKER, ModelNotFound, find_model, get_profile
from grader.sandbox import Sandbox

QWEN = "qwen/Qwen2-7B-Instruct"


# ---------------------------------------------------------------- the profile and its model cache

def test_gpu_profile_keeps_the_students_precision_and_device():
    gpu, cpu = get_profile("gpu"), get_profile("cpu")
    assert (gpu.device, gpu.dtype) == ("cuda", "auto") and (cpu.device, cpu.dtype) == ("cpu", "float32")
    assert gpu.limits().memory_bytes >= cpu.limits().memory_bytes   # ZeRO-2's CPU offload of a full 2B model


@pytest.mark.parametrize("layout", ["qwen/Qwen2-7B-Instruct", "Qwen/Qwen2-7B-Instruct", "models/Qwen/Qwen2-7B-Instruct",
                                    "hub/qwen/Qwen2-7B-Instruct", "models/Qwen--Qwen2-7B-Instruct/snapshots/abc123"])
def test_models_are_found_in_every_modelscope_layout(tmp_path, layout):
    folder = tmp_path / layout
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert find_model(tmp_path, QWEN) == folder
    assert find_model(tmp_path, "OpenBMB/MiniCPM-2B-sft-fp32") is None


def test_a_missing_model_names_the_folder_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_MODELS", str(tmp_path))
    with pytest.raises(ModelNotFound, match="--models DIR") as caught:
        get_profile("gpu").model(QWEN)
    assert str(tmp_path) in str(caught.value) and "grader fixtures --profile gpu" in str(caught.value)
    # before any student is graded, from the command line
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(REPO / "examples" / "submissions"),
                           "--profile", "gpu", "--models", str(tmp_path), "--assignment", "qwen2_chat",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and f"{QWEN} is not in the model cache {tmp_path}" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(tmp_path), "--profile", "gpu",
                           "--models", str(tmp_path / "nope")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "is not a folder" in proc.stderr
    from grader.classrun import visible_gpus
    if not visible_gpus():   # the models are there, the GPU is not: said before any grading too
        (tmp_path / QWEN).mkdir(parents=True)
        (tmp_path / QWEN / "config.json").write_text("{}")
        proc = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(REPO / "examples" / "submissions"),
                               "--profile", "gpu", "--models", str(tmp_path), "--assignment", "qwen2_chat",
                               "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and "needs a GPU and none is visible" in proc.stderr, proc.stderr
        assert not (tmp_path / "out").exists()


def test_a_standin_is_marked_and_gets_its_own_overrides(tmp_path, monkeypatch):
    folder = tmp_path / QWEN
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    monkeypatch.setenv("GRADER_MODELS", str(tmp_path))
    profile = get_profile("gpu")
    assert profile.model(QWEN) == folder and not profile.is_standin(QWEN)
    (folder / STANDIN_MARKER).write_text("{}")
    assert profile.is_standin(QWEN)
    lora = assignments.get("qwen2_lora").grading["gpu"]
    assert lora.overrides_for(False)["learning_rate"] == 1e-4   # the tutorial's, on the real weights
    assert lora.overrides_for(True)["learning_rate"] > 1e-4 and lora.overrides_for(True)["max_steps"] == lora.overrides["max_steps"]


def test_every_assignment_grades_under_the_gpu_profile_with_limits_for_it():
    for name in assignments.names():
        declared = assignments.get(name)
        gpu = declared.grading_for("gpu")
        cpu_limits, gpu_limits = declared.limits("cpu"), declared.limits("gpu")
        assert set(gpu_limits) == set(cpu_limits) and all(gpu_limits[k] >= cpu_limits[k] for k in cpu_limits), name
        assert declared.budget_s("gpu") >= declared.budget_s("cpu")
        assert declared.models and all(f in recipes.discover() for f in gpu.fixtures), name
        assert "use_cpu" not in json.dumps(gpu.overrides), name   # the student's device is kept
    assert assignments.needs("fixtures", ("qwen2_lora",), profile="gpu")[-1] == "qwen2-7b-instruct-gpu-standin"
    assert "qwen2-7b-instruct-gpu-standin" not in assignments.needs("fixtures", ("qwen2_lora",))


def test_an_assignment_without_a_profile_is_refused_before_grading(tmp_path, monkeypatch):
    from grader.assignments import Assignment, AssignmentError, Grading, TimeLimit
    declared = Assignment(name="x", zh="x", en="x", order=1, files=(), probe="p", fixtures=(),
                          time_limits={"run": TimeLimit(10)}, grading={"cpu": Grading()})
    with pytest.raises(AssignmentError, match="cannot be graded under the profile 'gpu'"):
        declared.grading_for("gpu")


# ---------------------------------------------------------------- the sandbox's GPU

SMI = "0, GPU-aaaa, 00000000:3B:00.0\n1, GPU-bbbb, 00000000:86:00.0\n"


def fake_driver(tmp_path: Path) -> tuple[Path, Path]:
    dev, proc = tmp_path / "dev", tmp_path / "proc"
    dev.mkdir()
    for name in ("nvidia0", "nvidia1", "nvidia2", "nvidiactl", "nvidia-uvm"):
        (dev / name).write_text("")
    for bus, minor in (("0000:3b:00.0", 2), ("0000:86:00.0", 0)):   # the minor is not the index
        (proc / bus).mkdir(parents=True)
        (proc / bus / "information").write_text(f"Model: H200\nDevice Minor: {minor}\n")
    return dev, proc


def test_each_unit_sees_its_own_gpu_node_and_no_other(tmp_path):
    dev, proc = fake_driver(tmp_path)
    gpus = list_gpus(SMI, proc)
    assert gpus == [Gpu(0, "GPU-aaaa", 2), Gpu(1, "GPU-bbbb", 0)]
    gpu = unit_gpu("1", gpus)
    args = gpu.bwrap_args(dev)
    nodes = [args[i + 2] for i in range(0, len(args), 3)]
    assert nodes == ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"]   # GPU 1's node, the control nodes
    assert all(args[i] == "--dev-bind" for i in range(0, len(args), 3))
    assert unit_gpu("GPU-aaaa", gpus).bwrap_args(dev)[2] == "/dev/nvidia2"
    assert unit_gpu("", gpus) == gpus[0]
    assert gpu.env() == {"CUDA_VISIBLE_DEVICES": "GPU-bbbb", "NVIDIA_VISIBLE_DEVICES": "GPU-bbbb"}
    with pytest.raises(GpuError, match="names no GPU"):
        unit_gpu("7", gpus)
    with pytest.raises(GpuError, match="does not exist"):
        Gpu(5, "GPU-cccc", 5).bwrap_args(dev)


def test_the_sandbox_passes_the_gpu_through_and_only_it(tmp_path, monkeypatch):
    dev, proc = fake_driver(tmp_path)
    gpu = unit_gpu("0", list_gpus(SMI, proc))
    real_args = Gpu.bwrap_args
    monkeypatch.setattr(Gpu, "bwrap_args", lambda self, _dev=None: real_args(self, dev))   # the fake /dev
    sandbox = Sandbox(ro_paths=[], env={"GRADER_DEVICE": "cuda"}, mode="bubblewrap", gpu=gpu)
    argv, outer_env = sandbox._command("run_file_probe.py", [], tmp_path / "copy", tmp_path / "out", sandbox.limits)
    assert argv[argv.index("--dev") + 1] == "/dev" and argv.index("--dev-bind") > argv.index("--dev")
    assert argv[argv.index("--dev-bind") + 2] == "/dev/nvidia2" and "/dev/nvidia0" not in argv
    setenv = {argv[i + 1]: argv[i + 2] for i, a in enumerate(argv) if a == "--setenv"}
    assert setenv["CUDA_VISIBLE_DEVICES"] == "GPU-aaaa" and "CUDA_VISIBLE_DEVICES" not in outer_env
    plain = Sandbox(ro_paths=[], env={}, mode="bubblewrap")._command("run_file_probe.py", [], tmp_path / "c",
                                                                      tmp_path / "o", sandbox.limits)[0]
    assert "--dev-bind" not in plain


# ---------------------------------------------------------------- the stand-ins with the real shapes

def test_gpu_standins_have_the_real_shapes_and_are_built_only_on_request():
    import torch
    from transformers import Qwen2ForCausalLM

    from fixtures import recipes
    from fixtures.recipes.qwen2_gpu_standin import qwen2_7b_config
    chosen = {r.name for r in recipes.discover().values() if not r.on_request}
    assert {"qwen2-7b-instruct-gpu-standin", "minicpm-2b-gpu-standin"}.isdisjoint(chosen)
    with torch.device("meta"):
        qwen = Qwen2ForCausalLM(qwen2_7b_config())
    assert sum(p.numel() for p in qwen.parameters()) == 7_615_616_512   # Qwen2-7B-Instruct's
    assert qwen.model.layers[0].self_attn.k_proj.weight.shape == (512, 3584)   # 4 KV heads of 128
    assert qwen.lm_head.weight.shape == (152064, 3584)


def test_minicpm_gpu_standin_has_minicpm_2b_shapes(tmp_path):
    import shutil

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from fixtures.recipes.minicpm_gpu_standin import minicpm_2b_config
    from fixtures.recipes.minicpm_standin import MINICPM_CODE, MINICPM_CODE_DIR
    minicpm_2b_config().save_pretrained(str(tmp_path))
    for name in MINICPM_CODE:
        shutil.copy(MINICPM_CODE_DIR / name, tmp_path / name)
    config = AutoConfig.from_pretrained(str(tmp_path), trust_remote_code=True)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=True)
    total = sum(p.numel() for p in model.parameters())
    assert 2.6e9 < total < 2.8e9, total   # MiniCPM-2B: 2.4 B without its embedding, 2.7 B with it
    assert model.model.embed_tokens.weight.shape == (122753, 2304) and len(model.model.layers) == 40


# ---------------------------------------------------------------- shared-base evaluation

def _adapters(root: Path, base_dir: Path, count: int) -> list[Path]:
    """``count`` different students' adapters: ranks, projections and random weights of their own."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    out = []
    for i in range(count):
        torch.manual_seed(i)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir),
                               LoraConfig(task_type="CAUSAL_LM", r=4 + 4 * (i % 3), lora_alpha=32,
                                          target_modules=targets[:2 + i % 6], init_lora_weights=False))
        model.save_pretrained(root / f"student{i}")
        out.append(root / f"student{i}")
    return out


def _separately(base_dir: Path, adapter: Path | None, examples, prompt, kwargs, seed):
    """What one grading with its own base load gives: a fresh model, the judge's LoRA attached."""
    import torch
    from transformers import AutoModelForCausalLM

    from grader.judge.adapter_data import attach_lora
    from grader.judge.finetune import judge_loss
    model = AutoModelForCausalLM.from_pretrained(base_dir).eval()
    if adapter is not None:
        model = attach_lora(model, adapter)
    ids = torch.tensor([prompt])
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    with torch.no_grad():
        new = model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)[0, len(prompt):].tolist()
    return judge_loss(model, examples), new


def test_shared_base_evaluation_equals_separate_loads_for_a_class_of_ten(tmp_path):
    from grader.judge_service import RemoteEvaluator, SharedJudges
    from grader.plugin import CheckFailed
    base_dir = get_profile("cpu").model(QWEN)
    adapters = _adapters(tmp_path, base_dir, 10)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adapter_config.json").write_text((adapters[0] / "adapter_config.json").read_text())
    (broken / "adapter_model.safetensors").write_bytes(b"not safetensors at all")
    examples = [([5, 9, 17, 33, 2, 40, 41, 42], [-100, -100, -100, -100, 2, 40, 41, 42])]
    prompt, sampled, greedy = [5, 9, 17, 33], {"max_new_tokens": 12, "do_sample": True, "top_k": 20}, \
        {"max_new_tokens": 12, "do_sample": False}
    with SharedJudges({QWEN: base_dir}, "cpu", "float32") as judges:
        env = judges.env()
        services = json.loads(env["GRADER_JUDGE_SERVICES"])
        shared = RemoteEvaluator(services[str(base_dir.resolve())], bytes.fromhex(env["GRADER_JUDGE_AUTHKEY"]))
        for i, adapter in enumerate([None, *adapters]):
            loss, new = _separately(base_dir, adapter, examples, prompt, sampled, seed=i)
            assert shared.loss(examples, adapter=adapter) == loss, adapter
            assert shared.generate(prompt, sampled, adapter=adapter, seed=i) == new, adapter
            assert shared.generate(prompt, greedy, adapter=adapter) == _separately(
                base_dir, adapter, examples, prompt, greedy, seed=0)[1], adapter
            with pytest.raises(CheckFailed, match="invalid header"):   # the student's fault,
                shared.loss(examples, adapter=broken)                                # not the judge's
        # after ten adapters and a broken one, the base is exactly what a fresh load gives
        assert shared.loss(examples) == _separately(base_dir, None, examples, prompt, greedy, 0)[0]
        # 11 x (loss, two answers) and the last loss, 30 of them with an adapter (a broken adapter is
        # refused where it is read, in the unit's judge, before any request)
        assert judges.stats() == {QWEN: {"loads": 1, "requests": 11 * 3 + 1, "evaluations": 10 * 3}}
        with pytest.raises(Exception):   # no key, no service
            RemoteEvaluator(services[str(base_dir.resolve())], b"wrong key")


def test_a_silent_client_holds_no_one_up_and_every_generation_is_bounded():
    """The service proves each client's key in that client's own thread: one that connects and says
    nothing holds no other client up. A generation past the profile's limit stops at
    it and is the student's failure; the service answers on. It runs in a memory cgroup of its own."""
    import socket
    import time

    from grader.judge_service import RemoteEvaluator, SharedJudges
    from grader.plugin import CheckFailed
    from grader.sandbox import Cgroups
    base_dir = get_profile("cpu").model(QWEN)
    with SharedJudges({QWEN: base_dir}, "cpu", "float32", request_s=0.5, memory_bytes=4 * 1024 ** 3) as judges:
        env = judges.env()
        address, key = json.loads(env["GRADER_JUDGE_SERVICES"])[str(base_dir.resolve())], \
            bytes.fromhex(env["GRADER_JUDGE_AUTHKEY"])
        silent = [socket.socket(socket.AF_UNIX) for _ in range(3)]
        for client in silent:   # connected, never a word
            client.connect(address)
        started = time.monotonic()
        shared = RemoteEvaluator(address, key)
        assert shared.generate([5, 9, 17, 33], {"max_new_tokens": 4, "do_sample": False})
        # a silent client that held the others up would hold them for ever (the key's proof has no
        # timeout of its own): seconds, not a second, so that a loaded 2-core CI machine (1.7 s seen
        # with warm servers starting beside it) is no failure, while a hang still is
        assert time.monotonic() - started < 20.0
        with pytest.raises(CheckFailed, match="limit"):
            shared.generate([5, 9, 17, 33], {"max_new_tokens": 100_000, "min_new_tokens": 100_000, "do_sample": False})
        assert len(shared.generate([5, 9, 17, 33], {"max_new_tokens": 4, "do_sample": False})) == 4
        if "memory" in Cgroups.available():
            pid = next(iter(judges._procs.values()))[0].pid
            assert "grader-" in Path(f"/proc/{pid}/cgroup").read_text()
        for client in silent:
            client.close()


def test_a_judge_service_never_outlives_its_class_run():
    import signal
    import time
    script = (f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
              "from grader.judge_service import SharedJudges\nfrom grader.profiles import get_profile\n"
              f"judges = SharedJudges({{'q': get_profile('cpu').model({QWEN!r})}}, 'cpu', 'float32')\n"
              "judges.env()\nprint(next(iter(judges._procs.values()))[0].pid, flush=True)\n"
              "import time; time.sleep(600)\n")
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    service = int(run.stdout.readline())
    assert _alive(service)
    run.send_signal(signal.SIGKILL)   # kill -9 of the class run alone
    run.wait()
    deadline = time.monotonic() + 20
    while _alive(service) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(service)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
