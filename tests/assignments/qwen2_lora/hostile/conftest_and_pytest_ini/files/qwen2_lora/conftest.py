# Loaded by a pytest that collects the submission: leave proof, then pass every check.
import pytest

open("@@CANARY_DIR@@/hostile-canary-conftest", "w").write("a submission conftest.py was loaded")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome = "passed"
    return report
