"""Stubs are generated from the reference and cannot drift; fixtures give Qwen2's real ids."""
from __future__ import annotations

import pytest

from grader import stubs
from grader.profiles import fixtures_dir


def test_assignments_match_the_reference():
    assert stubs.drift() == [], "run `grader stubs` to regenerate assignments/"


def test_stub_replaces_solution_blocks_and_keeps_signatures():
    source = 'def f(x: int) -> int:\n    """Doc."""\n    # BEGIN SOLUTION\n    return x + 1\n    # END SOLUTION\n'
    stub = stubs.make_stub(source)
    assert 'def f(x: int) -> int:\n    """Doc."""\n' in stub
    assert "return x + 1" not in stub and 'raise NotImplementedError("请完成 f / implement f")' in stub
    compile(stub, "stub", "exec")


def test_unbalanced_markers_are_an_error():
    with pytest.raises(ValueError, match="BEGIN SOLUTION without END"):
        stubs.make_stub("def f():\n    # BEGIN SOLUTION\n    pass\n")


def test_real_qwen2_tokenizer_ids():
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(fixtures_dir() / "tokenizers" / "qwen2-real")
    assert tok("Hello, world!", add_special_tokens=False)["input_ids"] == [9707, 11, 1879, 0]
    assert tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) == [151643, 151644, 151645]
    assert tok.pad_token_id == 151643 and tok.eos_token_id == 151645


def test_standin_resolves_offline_through_modelscope():
    from modelscope import snapshot_download
    from transformers import AutoConfig, GenerationConfig
    path = snapshot_download("qwen/Qwen2-7B-Instruct", cache_dir=str(fixtures_dir() / "modelscope"),
                             local_files_only=True)
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == "qwen2" and config.hidden_size == 64
    gen = GenerationConfig.from_pretrained(path)
    assert sorted(gen.eos_token_id) == sorted([config.eos_token_id, config.pad_token_id])
