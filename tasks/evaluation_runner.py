"""Runs a task's evaluation script under synthgym's import rules (python -I /synthgym/evaluation/runner.py ...).

MLGym runs `python evaluate.py` in the workspace, so the script's directory (the agent's workspace) comes first
on sys.path and a module the agent writes there (argparse.py, numpy.py) replaces the real one. Here the script is
the task's pristine copy under /synthgym/evaluation/files, `-I` keeps PYTHON* variables, user site-packages and
the working directory off the path, and the workspace is on it only last, and only for a task without hidden
files (a PythonSubmissionTasks task imports the agent's module by design).

While the task's hidden files are mounted (at /home/agent/secret), a file may be opened from them only by its own
path: a link the agent planted in the workspace (`submission.csv -> /home/agent/secret/answers.csv`, or one to
`/proc/self/fd/N` once the script has opened them) would otherwise hand the script the answers as the submission.
The check is made on the opened file (what /proc/self/fd says it is), so swapping the link in between gains nothing.

usage: runner.py <workspace|no-workspace> <script> [args...]
"""
import builtins
import errno
import io
import os
import runpy
import sys

SECRET_DIR = "/home/agent/secret"


def guard_hidden_files():
    real_open, real_os_open = builtins.open, os.open

    def check(fd, file):
        if not isinstance(file, (str, bytes, os.PathLike)):
            return
        try:
            where = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return
        if where != SECRET_DIR and not where.startswith(SECRET_DIR + "/"):
            return
        asked = os.path.normpath(os.path.join(os.getcwd(), os.fsdecode(file)))
        if asked != where:
            raise PermissionError(errno.EACCES, "a symbolic link leads to the task's hidden files; "
                                  "they can be opened only by their own path", os.fsdecode(file))

    def guarded_open(file, *args, **kwargs):
        f = real_open(file, *args, **kwargs)
        try:
            check(f.fileno(), file)
        except BaseException:
            f.close()
            raise
        return f

    def guarded_os_open(path, *args, **kwargs):
        fd = real_os_open(path, *args, **kwargs)
        try:
            check(fd, path)
        except BaseException:
            os.close(fd)
            raise
        return fd

    builtins.open = io.open = guarded_open
    os.open = guarded_os_open


def main():
    mode, script, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    files = "/synthgym/evaluation/files"
    sys.path[:] = [files] + [p for p in sys.path if p not in ("", ".")]
    if mode == "workspace":
        sys.path.append("/home/agent/workspace")
    sys.argv = [script] + args
    if os.path.isdir(SECRET_DIR):
        guard_hidden_files()
    runpy.run_path(script, run_name="__main__")


main()
