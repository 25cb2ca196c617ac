"""The judge's own work on a base model: losses and generations, with or without a student's LoRA
adapter, for one grading or shared by a whole class run.

`Evaluator` loads the base model once (per dtype) and evaluates adapters against it in place: the
student's LoRA tensors (read as data, grader/judge/adapter_data.py) are attached, used, and
unloaded again, which leaves the base exactly as it was, so no copy of the model is ever made.

A class run starts one `serve` process per base model (per GPU under a GPU profile) and hands its
address to every unit's judge (`GRADER_JUDGE_SERVICES`); the checks then reach it through
`RemoteEvaluator`, which has the same methods and reads the adapter itself (the files are in the
grading's own mount namespace) to send it as safetensors bytes. A base model is then loaded once per
class instead of once per student. The service is the judge's: it never runs student code, and only the judge's
pytest children know its address and key (the sandbox's environment is built from scratch).
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Client, Listener
from pathlib import Path

SERVICES_ENV = "GRADER_JUDGE_SERVICES"   # JSON: {model folder: socket address}
AUTHKEY_ENV = "GRADER_JUDGE_AUTHKEY"     # hex; never on a command line (ps would show it)


class Evaluator:
    """The judge's model work on one base model, in this process."""

    def __init__(self, model_dir: Path, device: str = "cpu", dtype: str = "float32", request_s: float = 120):
        """``dtype``: the judge's own loads ("auto": bf16 where the GPU has it, else fp16); a replay
        asks for the dtype the student's code used. ``request_s``: the longest one generation may
        take (the profile's judge_request_s); a replay past it is the student's failure."""
        from grader.profiles import resolve_dtype
        self.model_dir, self.device, self.dtype = Path(model_dir), device, resolve_dtype(dtype)
        self.request_s = request_s
        self._bases: dict[str, object] = {}
        self.loads = self.requests = self.evaluations = 0   # evaluations: those with an adapter

    def base(self, dtype: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM
        dtype = dtype or self.dtype
        if dtype not in self._bases:
            model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=getattr(torch, dtype),
                                                         device_map=None if self.device == "cpu" else self.device)
            self._bases[dtype] = model.eval()
            self.loads += 1
        return self._bases[dtype]

    @contextlib.contextmanager
    def model(self, adapter: Path | tuple | None = None, dtype: str | None = None):
        """The base, or the base with ``adapter`` (its folder, or read_adapter's data) attached for the duration."""
        from grader.judge.adapter_data import attached_lora
        base = self.base(dtype)
        if adapter is None:
            yield base
            return
        if isinstance(adapter, tuple) and isinstance(adapter[1], bytes):   # from a RemoteEvaluator
            from safetensors.torch import load
            adapter = (adapter[0], load(adapter[1]))
        with attached_lora(base, adapter) as tuned:
            self.evaluations += 1
            yield tuned

    def loss(self, examples: list, adapter: Path | tuple | None = None, dtype: str | None = None) -> float:
        """Mean loss over the responses of ``examples`` ((input_ids, labels) pairs)."""
        from grader.judge.finetune import judge_loss
        self.requests += 1
        with self.model(adapter, dtype) as model:
            return judge_loss(model, examples)

    def generate(self, input_ids: list[int], kwargs: dict, adapter: Path | tuple | None = None,
                 dtype: str | None = None, seed: int | None = None) -> list[int]:
        """The new token ids of ``generate(input_ids, **kwargs)``; one thread and ``seed``, as in the sandbox."""
        import torch
        self.requests += 1
        from grader.plugin import fail
        from transformers import StoppingCriteria, StoppingCriteriaList

        from grader.probes.run_clock import RunClock
        # the limit is on the run clock of this thread: the time it waited for a CPU does not count
        clock, limit = RunClock(thread=threading.get_native_id()), self.request_s

        class WithinLimit(StoppingCriteria):   # generate stops itself at the limit: no request holds a shared judge
            def __call__(self, input_ids, scores, **_):
                return torch.full((input_ids.shape[0],), clock.over(limit), device=input_ids.device, dtype=torch.bool)

        with self.model(adapter, dtype) as model, torch.no_grad():
            ids = torch.tensor([input_ids], device=model.device)
            torch.set_num_threads(1)   # the same arithmetic as the recorded run, so the same samples
            if seed is not None:
                torch.manual_seed(seed)
            out = model.generate(ids, attention_mask=torch.ones_like(ids),
                                 stopping_criteria=StoppingCriteriaList([WithinLimit()]), **kwargs)
        if clock.over(limit):
            fail(f"评分器重放这次生成超过了 {self.request_s:g} 秒的限制：请用课程的生成长度（max_new_tokens=512）。",
                 f"The judge's replay of this generation ran past its limit of {self.request_s:g} s: use the "
                 f"course's generation length (max_new_tokens=512).")
        return out[0, ids.shape[1]:].tolist()

    def stats(self) -> dict:
        return {"loads": self.loads, "requests": self.requests, "evaluations": self.evaluations}


class RemoteEvaluator:
    """An Evaluator in a judge service (`serve`): the same methods, over a socket."""

    def __init__(self, address: str, authkey: bytes):
        self._conn = Client(address, family="AF_UNIX", authkey=authkey)
        self._lock = threading.Lock()
        self._last: tuple = (None, None)

    def _call(self, op: str, **args):
        from grader.plugin import CheckFailed
        with self._lock:
            self._conn.send((op, args))
            status, payload = self._conn.recv()
        if status == "ok":
            return payload
        if status == "failed":   # a CheckFailed in the service: the student's adapter, not the judge
            shown = {k: payload[k] for k in ("expected", "actual") if payload[k] is not None}
            raise CheckFailed(payload["zh"], payload["en"], hint_zh=payload["hint_zh"], hint_en=payload["hint_en"],
                              **shown)
        raise RuntimeError(f"judge service: {payload}")

    def loss(self, examples, adapter=None, dtype=None) -> float:
        return self._call("loss", examples=examples, adapter=self._data(adapter), dtype=dtype)

    def generate(self, input_ids, kwargs, adapter=None, dtype=None, seed=None) -> list[int]:
        return self._call("generate", input_ids=input_ids, kwargs=kwargs, adapter=self._data(adapter), dtype=dtype,
                          seed=seed)

    def stats(self) -> dict:
        return self._call("stats")

    def _data(self, adapter):
        """The adapter is read (and judged as data) here, where the files are: a grading's work
        folder lives in its own mount namespace, which the service cannot see. The last one is kept:
        the checks ask about the same adapter several times."""
        from safetensors.torch import save

        from grader.judge.adapter_data import read_adapter
        if adapter is None:
            return None
        if self._last[0] != adapter:
            config, tensors = read_adapter(adapter)
            self._last = (adapter, (config, save(tensors)))   # plain bytes: no pickled tensors, no shared memory
        return self._last[1]


def evaluator_for(model_dir: Path, device: str, dtype: str, request_s: float = 120):
    """The class run's shared service for this base model when there is one, else a local Evaluator."""
    services = json.loads(os.environ.get(SERVICES_ENV) or "{}")
    address = services.get(str(Path(model_dir).resolve()))
    if address and os.environ.get(AUTHKEY_ENV):
        return RemoteEvaluator(address, bytes.fromhex(os.environ[AUTHKEY_ENV]))
    return Evaluator(model_dir, device, dtype, request_s)


# ---------------------------------------------------------------- the service

HANDSHAKE_S = 10   # a client that has not proved the key by then is dropped


def serve(model_dir: Path, device: str, dtype: str, address: str, authkey: bytes, request_s: float = 120) -> None:
    """Answer requests until killed; one at a time (attaching an adapter changes the shared base).
    Each connection proves the key in its own thread, so a client that connects and stays silent
    holds nobody else up; each generation is bounded by ``request_s``."""
    from multiprocessing.connection import answer_challenge, deliver_challenge

    from grader.plugin import CheckFailed

    evaluator = Evaluator(model_dir, device, dtype, request_s)
    evaluator.base()   # loaded before the address is ready: the first student waits on no load
    lock = threading.Lock()

    def handshake(conn) -> bool:
        proved = threading.Event()

        def drop():   # shutdown wakes the read the silent client left this thread in
            if not proved.is_set():
                with contextlib.suppress(OSError):
                    socket.socket(fileno=os.dup(conn.fileno())).shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(HANDSHAKE_S, drop)
        timer.start()
        try:
            deliver_challenge(conn, authkey)
            answer_challenge(conn, authkey)
            proved.set()
            return True
        except Exception:  # a wrong key, a dropped or silent client: this connection only
            return False
        finally:
            timer.cancel()

    def handle(conn):
        with conn:
            if not handshake(conn):
                return
            while True:
                try:
                    op, args = conn.recv()
                except (EOFError, OSError):
                    return
                try:
                    with lock:
                        reply = ("ok", getattr(evaluator, op)(**args)) if op in ("loss", "generate", "stats") \
                            else ("error", f"unknown request {op!r}")
                except CheckFailed as exc:
                    reply = ("failed", exc.details())
                except Exception as exc:  # a judge bug: the unit reports an internal error, the service goes on
                    reply = ("error", f"{type(exc).__name__}: {exc}")
                conn.send(reply)

    parent = os.getppid()

    def orphaned():   # the class run was killed (even kill -9): no service outlives it
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()
    # no authkey here: Listener.accept() would run the handshake in this one loop
    with Listener(address, family="AF_UNIX") as listener:
        Path(address + ".ready").touch()
        while True:
            try:
                conn = listener.accept()
            except Exception:  # a dropped connection: the next one
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()


class SharedJudges:
    """A class run's judge services: one per base model and GPU, started on first use, stopped at
    the end. ``env(gpu)`` is what a unit's judge needs to reach them."""

    def __init__(self, models: dict[str, Path], device: str, dtype: str, start_timeout_s: float = 600,
                 request_s: float = 120, memory_bytes: int | None = None):
        """``memory_bytes``: each service's memory cgroup where the machine lets us make one (its
        reports say so), so a judge that grows is held like a sandbox; ``request_s``: per generation."""
        self.models, self.device, self.dtype = models, device, dtype   # model id -> folder
        self.start_timeout_s, self.request_s, self.memory_bytes = start_timeout_s, request_s, memory_bytes
        self._cgroups: list = []
        self.authkey = secrets.token_bytes(32)
        self._folder = Path(tempfile.mkdtemp(prefix="grader-judges-"))   # 0700: ours alone
        self._procs: dict[tuple[str, int | None], tuple[subprocess.Popen, str]] = {}
        self._started = itertools.count()   # names each service's socket and log: a restarted one gets new ones
        self._lock = threading.Lock()

    def env(self, gpu: int | None = None) -> dict[str, str]:
        if not self.models:
            return {}
        with self._lock:
            services = {str(folder.resolve()): self._start(model_id, folder, gpu)
                        for model_id, folder in self.models.items()}
        return {SERVICES_ENV: json.dumps(services), AUTHKEY_ENV: self.authkey.hex()}

    def _start(self, model_id: str, folder: Path, gpu: int | None) -> str:
        key = (model_id, gpu)
        if key in self._procs and self._procs[key][0].poll() is None:
            return self._procs[key][1]
        name = self._folder / str(next(self._started))
        address = f"{name}.sock"
        grader_root = str(Path(__file__).resolve().parent.parent)   # this very grader, as the runner's children
        env = {**os.environ, AUTHKEY_ENV: self.authkey.hex(),
               "PYTHONPATH": os.pathsep.join(filter(None, [grader_root, os.environ.get("PYTHONPATH")]))}
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(gpu)
        log = Path(f"{name}.log")
        cgroup = None
        if self.memory_bytes:
            from grader.sandbox import Cgroups
            cgroup = Cgroups({"memory": self.memory_bytes})
            self._cgroups.append(cgroup)
        with open(log, "wb") as sink:   # the child keeps its own copy of the descriptor
            proc = subprocess.Popen([sys.executable, "-m", "grader.judge_service", "--model-dir", str(folder),
                                     "--device", self.device, "--dtype", self.dtype, "--address", address,
                                     "--request-s", str(self.request_s)],
                                    env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                    preexec_fn=cgroup.join if cgroup else None)
        deadline = time.monotonic() + self.start_timeout_s
        while not Path(address + ".ready").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the judge service for {model_id} did not start: "
                                   f"{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        self._procs[key] = (proc, address)
        return address

    def stats(self) -> dict[str, dict]:
        """{model id (gpu): loads and evaluations}, asked of each running service."""
        out = {}
        for (model_id, gpu), (proc, address) in self._procs.items():
            with contextlib.suppress(Exception):
                out[model_id + ("" if gpu is None else f" (GPU {gpu})")] = \
                    RemoteEvaluator(address, self.authkey).stats()
        return out

    def close(self) -> None:
        for proc, _ in self._procs.values():
            proc.kill()
            proc.wait()
        self._procs.clear()
        for cgroup in self._cgroups:
            cgroup.kill_all()
            cgroup.remove()
        self._cgroups.clear()
        import shutil
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.judge_service", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--address", required=True)
    parser.add_argument("--request-s", type=float, default=120)
    args = parser.parse_args(argv)
    serve(args.model_dir, args.device, args.dtype, args.address, bytes.fromhex(os.environ[AUTHKEY_ENV]),
          args.request_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
