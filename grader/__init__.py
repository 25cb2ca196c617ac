"""A sandboxed auto-grader for LLM deployment and fine-tuning homework."""
__version__ = "0.1.0"

# The assignments this grader knows, in the order reports list them.
ASSIGNMENTS = ("qwen2_chat", "qwen2_lora", "minicpm_deepspeed")
