"""Nothing under tests/honest/ is a test of ours: the entries hold students' train.py, chatBot.py and
notebooks, which the harness's own pytest must never collect or import. The corpus is run by
tests/test_honest_corpus.py, which only reads these folders."""
collect_ignore_glob = ["*"]
