"""Starts an assignment's own probe (grader/checks/<name>/probe/probe.py) inside the sandbox, with the
probe's own folder (its hooks) and the shared probe modules of this folder (_probe_common, notebooks,
run_clock, hooks/) importable by their bare names, as if they were its neighbours. Stdlib only.

    python start.py /grader/probe/probe.py MODE
"""
import os
import runpy
import sys

probe = sys.argv[1]
sys.path[0:1] = [os.path.dirname(probe), os.path.dirname(os.path.abspath(__file__))]
sys.argv = [probe, *sys.argv[2:]]
runpy.run_path(probe, run_name="__main__")
