"""minicpm_deepspeed's proof: its end-to-end tests, honest/ and hostile/ corpora (tests/assignments/README.md)."""
from tests.conftest import DEEPSPEED

# its entries launch DeepSpeed (two launches a grading): one at a time (tests/conftest.py)
CORPUS_MARKS = [DEEPSPEED]
