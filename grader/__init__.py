"""A sandboxed auto-grader for LLM deployment and fine-tuning homework."""
__version__ = "0.1.0"
# The assignments are discovered from their declarations: grader/assignments.py
