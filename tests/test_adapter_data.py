"""The judge reads a student's adapter as data only: poisoned files fail the check, never the judge."""
from __future__ import annotations

import json
import os
import struct

import pytest

from grader.judge.adapter_data import read_lora_config, read_safetensors
from grader.plugin import CheckFailed

GOOD_CONFIG = {"peft_type": "LORA", "r": 8, "lora_alpha": 32, "target_modules": ["q_proj", "v_proj"]}


def write_config(folder, config):
    (folder / "adapter_config.json").write_text(json.dumps(config))


def test_a_good_adapter_reads(tmp_path):
    import torch
    from safetensors.torch import save_file
    save_file({"base_model.model.x.lora_A.weight": torch.zeros(8, 4)}, str(tmp_path / "adapter_model.safetensors"))
    write_config(tmp_path, GOOD_CONFIG)
    assert read_lora_config(tmp_path)["r"] == 8
    assert list(read_safetensors(tmp_path)) == ["base_model.model.x.lora_A.weight"]


@pytest.mark.parametrize("raw, why", [
    (struct.pack("<Q", 2 ** 60) + b"{}", "invalid header"),       # absurd header length
    (struct.pack("<Q", 100) + b"{}", "invalid header"),           # header longer than the file
    (b"\x80\x04K\x01.", "not a safetensors file"),                # a pickle, renamed
    (struct.pack("<Q", 2) + b"[]", "cannot be read"),             # a header that is not a table
])
def test_malformed_safetensors_fail_cleanly(tmp_path, raw, why):
    (tmp_path / "adapter_model.safetensors").write_bytes(raw)
    with pytest.raises(CheckFailed, match=why):
        read_safetensors(tmp_path)


def test_symlinked_adapter_to_a_host_file_is_refused(tmp_path):
    os.symlink("/etc/passwd", tmp_path / "adapter_model.safetensors")
    with pytest.raises(CheckFailed, match="not a regular file"):
        read_safetensors(tmp_path)


@pytest.mark.parametrize("config, why", [
    ({**GOOD_CONFIG, "target_modules": ["../../etc/passwd"]}, "target_modules"),
    ({**GOOD_CONFIG, "target_modules": ["q_proj", "lm_head"]}, "target_modules"),
    ({**GOOD_CONFIG, "r": 10 ** 9}, "out of range"),
    ({**GOOD_CONFIG, "lora_alpha": "32; import os"}, "out of range"),
    ({**GOOD_CONFIG, "peft_type": "PROMPT_TUNING"}, "not a LoRA config"),
    ([1, 2, 3], "must hold a JSON object"),
])
def test_poisoned_adapter_config_fails_cleanly(tmp_path, config, why):
    write_config(tmp_path, config)
    with pytest.raises(CheckFailed, match=why):
        read_lora_config(tmp_path)


def test_non_json_and_non_utf8_config(tmp_path):
    (tmp_path / "adapter_config.json").write_bytes(b"\xff\xfe{not json")
    with pytest.raises(CheckFailed, match="not valid JSON"):
        read_lora_config(tmp_path)
