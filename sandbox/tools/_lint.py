#!/usr/bin/env python3
"""Lint helper for the edit and insert tools (edit.sh).

  _lint.py compile FILE
      Where flake8 is missing: prints the E999 line flake8 would ("FILE:LINE:COL: E999 <Error>: <message>") if FILE
      does not parse, else nothing.
  _lint.py new BEFORE FIRST LAST N < AFTER
      AFTER (stdin) and the file BEFORE hold flake8 output for the file after and before lines FIRST..LAST were replaced
      by N lines. Prints "- <problem>" for each error in AFTER that was not already in BEFORE, comparing as MLGym does:
      an earlier error keeps its place above the window, moves by the change in length below it, and is forgotten
      inside it.
"""
import ast
import io
import sys
import tokenize


def parse(text):
    errors = []
    for line in text.split("\n"):
        where, _, problem = line.strip().partition(": ")
        parts = where.split(":")
        if len(parts) == 2:
            parts.append("0")
        try:
            errors.append((parts[0], int(parts[1]), int(parts[2]), problem))
        except (IndexError, ValueError):
            continue  # blank, or not a lint line (a crash message)
    return errors


def new_errors(after, before, first, last, n_lines):
    shift = n_lines - (last - first + 1)
    known = set()
    for name, line, col, problem in parse(before):
        if line < first:
            known.add((name, line, col, problem))
        elif line > last:
            known.add((name, line + shift, col, problem))
    return ["- " + e[3] for e in parse(after) if e not in known]


def compile_error(path):
    # Parse only, reading the file as flake8 does, so the E999 lines are the ones flake8 would print.
    try:
        with open(path, "rb") as f:
            data = f.read()
        try:
            source = data.decode(tokenize.detect_encoding(io.BytesIO(data).readline)[0])
        except (SyntaxError, UnicodeError, LookupError):
            source = data.decode("latin-1")
        ast.parse(source)
    except SyntaxError as e:  # also IndentationError, TabError
        # flake8 reports Python 3.10+ syntax errors one column right of the offset
        return f"{path}:{e.lineno or 1}:{(e.offset or 0) + 1}: E999 {type(e).__name__}: {e.args[0]}"
    except ValueError as e:  # null bytes, before Python 3.12
        return f"{path}:1:1: E999 {type(e).__name__}: {e}"
    except OSError as e:
        return f"{path}:0:1: E902 {type(e).__name__}: {e}"
    return None


def main(argv):
    if len(argv) == 2 and argv[0] == "compile":
        error = compile_error(argv[1])
        if error:
            print(error)
    elif len(argv) == 5 and argv[0] == "new":
        with open(argv[1]) as f:
            before = f.read()
        print("\n".join(new_errors(sys.stdin.read(), before, int(argv[2]), int(argv[3]), int(argv[4]))))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
