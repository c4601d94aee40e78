"""Runs a task's evaluation script under synthgym's import rules (python -I /synthgym/evaluation/runner.py ...).

MLGym runs `python evaluate.py` in the workspace, so the script's directory (the agent's workspace) comes first
on sys.path and a module the agent writes there (argparse.py, numpy.py) replaces the real one. Here the script is
the task's pristine copy under /synthgym/evaluation/files, `-I` keeps PYTHON* variables, user site-packages and
the working directory off the path, and the workspace is on it only last, and only for a task without hidden
files (a PythonSubmissionTasks task imports the agent's module by design).

usage: runner.py <workspace|no-workspace> <script> [args...]
"""
import runpy
import sys


def main():
    mode, script, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    files = "/synthgym/evaluation/files"
    sys.path[:] = [files] + [p for p in sys.path if p not in ("", ".")]
    if mode == "workspace":
        sys.path.append("/home/agent/workspace")
    sys.argv = [script] + args
    runpy.run_path(script, run_name="__main__")


main()
