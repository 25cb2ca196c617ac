"""Probe that runs one file of the submission as a script (`run_file_probe.py FILE`).

Used by the sandbox's own tests and by diagnostics: it lets any student-like code run under the
exact same sandbox as the assignment probes.
"""
import runpy
import sys

from _probe_common import SUBMISSION, Recorder

rec = Recorder()
rec.step("run", lambda: bool(runpy.run_path(str(SUBMISSION / sys.argv[1]), run_name="__main__")))
