"""qwen2_fastapi's proof: its end-to-end tests, honest/ and hostile/ corpora (tests/assignments/README.md)."""
