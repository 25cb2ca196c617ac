"""Stubs are generated from the reference and cannot drift; fixtures give Qwen2's real ids."""
from __future__ import annotations

import pytest

from grader import stubs
import fixtures
from fixtures import fixtures_dir


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
    tok = AutoTokenizer.from_pretrained(fixtures.path("qwen2-real-tokenizer"))
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


def test_minicpm_standin_is_llama_plus_minicpms_three_scalings():
    """Loaded through auto_map with trust_remote_code, as the course loads MiniCPM. With the
    scalings set to identity it must compute exactly what Llama computes with the same weights."""
    import math

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    path = fixtures.path("minicpm-2b-standin")
    tok = AutoTokenizer.from_pretrained(path, use_fast=False, trust_remote_code=True)
    ids = tok("<用户>你是谁？<AI>家父是大理寺少卿甄远道。", add_special_tokens=False)["input_ids"]
    assert len(ids) > 8 and tok.decode(ids) == "<用户>你是谁？<AI>家父是大理寺少卿甄远道。"   # plain text
    assert tok.eos_token_id == 2 and tok("x")["input_ids"][0] == tok.bos_token_id == 1

    config = AutoConfig.from_pretrained(path, trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True, dtype=torch.float32)
    assert type(model).__name__ == "MiniCPMForCausalLM" and model.lm_head.weight is model.model.embed_tokens.weight
    assert (config.scale_emb, config.scale_depth) == (12, 1.4)
    x = torch.tensor([ids])
    identity = dict(scale_emb=1.0, scale_depth=math.sqrt(config.num_hidden_layers), dim_model_base=config.hidden_size)
    plain = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True, dtype=torch.float32, **identity)
    llama = LlamaForCausalLM(LlamaConfig(**{k: v for k, v in config.to_dict().items()
                                           if k not in ("auto_map", "architectures", "model_type")}))
    llama.load_state_dict(plain.state_dict())
    with torch.no_grad():
        assert torch.allclose(plain(x).logits, llama(x).logits, atol=1e-5)
        assert not torch.allclose(model(x).logits, llama(x).logits, atol=1e-3)
