"""Each assignment's proof (tests/assignments/<name>/): its end-to-end tests are ours; its honest/ and
hostile/ corpora hold students' train.py, chatBot.py, notebooks, hostile conftest.py files and
plugins, which the harness's own pytest must never collect or import. tests/test_honest_corpus.py and
tests/test_hostile_corpus.py only read those folders."""
collect_ignore_glob = ["*/honest", "*/hostile"]
