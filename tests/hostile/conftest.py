"""Nothing under tests/hostile/ is a test of ours: the entries hold hostile conftest.py files,
shadow modules and plugins that must never load into the harness's own pytest. The corpus is
run by tests/test_hostile_corpus.py, which only reads these folders."""
collect_ignore_glob = ["*"]
