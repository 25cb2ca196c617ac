"""A grading unit's own GPU, passed into its sandbox and nothing else.

A class run gives each unit one GPU (CUDA_VISIBLE_DEVICES=<index>, see grader/classrun.py). The
sandbox then shows that GPU's device node (/dev/nvidia<minor>) and the driver's control nodes, and
no other GPU's node: code inside cannot open a classmate's GPU even by resetting
CUDA_VISIBLE_DEVICES. The driver's user-space libraries live under /usr, which every sandbox sees
read-only already. Inside, CUDA_VISIBLE_DEVICES names the GPU by its UUID, which means the same GPU
whatever order the driver lists the visible ones in.

Nothing here imports torch or needs a GPU to be read: the tests run it on a fake /dev and /proc.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

# the nodes every CUDA process opens besides its GPU's own (those present are passed)
CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")


class GpuError(RuntimeError):
    """The unit's GPU cannot be found on this machine; the message says what to check."""


@dataclass(frozen=True)
class Gpu:
    index: int      # nvidia-smi's index
    uuid: str       # GPU-xxxxxxxx-...
    minor: int      # /dev/nvidia<minor>

    def bwrap_args(self, dev: Path = Path("/dev")) -> list[str]:
        """bwrap arguments (after --dev /dev) that show this GPU's node and the control nodes."""
        nodes = [dev / f"nvidia{self.minor}", *(dev / name for name in CONTROL_NODES)]
        if not nodes[0].exists():
            raise GpuError(f"{nodes[0]} does not exist: is the NVIDIA driver loaded? / GPU 设备节点不存在")
        args = []
        for node in nodes:
            if node.exists():
                args += ["--dev-bind", str(node), f"/dev/{node.name}"]
        return args

    def env(self) -> dict[str, str]:
        return {"CUDA_VISIBLE_DEVICES": self.uuid, "NVIDIA_VISIBLE_DEVICES": self.uuid}


def list_gpus(smi_output: str | None = None, proc: Path = Path("/proc/driver/nvidia/gpus")) -> list[Gpu]:
    """Every GPU of the machine: nvidia-smi's index, UUID and PCI bus id, the minor number from the
    driver's /proc/driver/nvidia/gpus/<bus id>/information (the minor is not always the index)."""
    if smi_output is None:
        try:
            smi_output = subprocess.run(["nvidia-smi", "--query-gpu=index,uuid,pci.bus_id", "--format=csv,noheader"],
                                        capture_output=True, text=True, timeout=30, check=True).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise GpuError(f"nvidia-smi failed ({exc}): the gpu profile needs the NVIDIA driver / 无法运行 nvidia-smi") from None
    gpus = []
    for line in smi_output.splitlines():
        if not line.strip():
            continue
        index, uuid, bus = (part.strip() for part in line.split(","))
        gpus.append(Gpu(index=int(index), uuid=uuid, minor=_minor(proc, bus, int(index))))
    return gpus


def _minor(proc: Path, bus: str, index: int) -> int:
    # nvidia-smi prints 00000000:3B:00.0; /proc names the folder 0000:3b:00.0
    want = bus.lower()[-12:]
    for info in proc.glob("*/information"):
        if info.parent.name.lower()[-12:] == want:
            found = re.search(r"Device Minor:\s*(\d+)", info.read_text())
            if found:
                return int(found.group(1))
    return index   # no /proc entry (some containers): the usual numbering


def unit_gpu(visible: str | None = None, gpus: list[Gpu] | None = None) -> Gpu:
    """The one GPU a unit was given: CUDA_VISIBLE_DEVICES holds its index or UUID (a class run sets it;
    alone, the first GPU)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "") if visible is None else visible
    gpus = list_gpus() if gpus is None else gpus
    if not gpus:
        raise GpuError("no GPU is visible on this machine / 本机没有可用的 GPU")
    wanted = visible.split(",")[0].strip()
    if not wanted:
        return gpus[0]
    for gpu in gpus:
        if wanted in (str(gpu.index), gpu.uuid):
            return gpu
    raise GpuError(f"CUDA_VISIBLE_DEVICES={visible!r} names no GPU of this machine "
                   f"({', '.join(str(g.index) for g in gpus)}) / CUDA_VISIBLE_DEVICES 指定的 GPU 不存在")
