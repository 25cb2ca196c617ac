# A pytest plugin found through its entry point: leave proof, then pass every check.
import pytest

open("@@CANARY_DIR@@/hostile-canary-plugin", "w").write("the submission's pytest plugin was loaded")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome = "passed"
    return report
