"""The windowed file viewer and the line-range editor of the sweagent profile (our own implementation of SWE-agent
1.x's `windowed` and `windowed_edit_linting` behaviour, from the documented formats).

State, in the registry (registry.py): CURRENT_FILE (absolute path), FIRST_LINE (0-based first shown line), WINDOW and
OVERLAP (normally from the environment: the session exports them).

  windowed.py open [PATH [LINE]] | goto [LINE...] | scroll_up | scroll_down | create [PATH]
  windowed.py edit START:END [TEXT...]   (the replacement on stdin when no TEXT, as the heredoc sends it)
  windowed.py state FILE                 writes {"open_file", "working_dir"} to FILE
"""
import json
import os
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import registry  # noqa: E402

NO_FILE = "No file open. Use the open command first."
EDIT_USAGE = "Usage: edit <start_line>:<end_line>\n<replacement_text>\nend_of_edit"
FLAKE8 = "flake8 --isolated --select=F821,F822,F831,E111,E112,E113,E999,E902 {file_path}"
RULE = "-" * 48


def window():
    return int(registry.get("WINDOW"))  # as in SWE-agent, a missing WINDOW is a crash


def overlap():
    return int(registry.get("OVERLAP"))


def read_lines(path):
    with open(path, errors="replace") as f:
        return f.read().splitlines()


def clamp(first, n_lines):
    return max(0, min(first, max(0, n_lines - window())))


def first_line(n_lines):
    return clamp(int(registry.get("FIRST_LINE", 0) or 0), n_lines)


def set_first_line(first, n_lines):
    first = clamp(first, n_lines)
    registry.put("FIRST_LINE", first)
    return first


def goto(line0, n_lines):
    """Puts 0-based line `line0` about a sixth of the way down the window."""
    return set_first_line(int(line0 - window() / 6), n_lines)


def render(label, lines, first):
    n_lines = len(lines)
    last = min(first + window() - 1, n_lines - 1)
    out = [f"[File: {label} ({n_lines} lines total)]"]
    if first > 0:
        out.append(f"({first} more lines above)")
    out += [f"{i + 1}:{lines[i]}" for i in range(first, last + 1)]
    if n_lines - last - 1 > 0:
        out.append(f"({n_lines - last - 1} more lines below)")
    return "\n".join(out) + "\n"


def current_file():
    path = registry.get("CURRENT_FILE")
    return path if isinstance(path, str) and path else None


def cmd_open(args):
    if not args:
        path = current_file()
        if path is None:
            print('Usage: open "<file>"')
            return 1
        lines = read_lines(path)
        sys.stdout.write(render(path, lines, first_line(len(lines))))
        return 0
    path = args[0]
    if os.path.isdir(path):
        print(f"Error: {path} is a directory. You can only open files. Use cd or ls to navigate directories.")
        return 1
    if not os.path.isfile(path):
        print(f"Error: File {path} not found")
        return 1
    lines = read_lines(path)
    n_lines = len(lines)
    if len(args) > 1:
        try:
            line = int(args[1])
        except ValueError:
            print('Usage: open "<file>" [<line_number>]')
            print("Error: <line_number> must be a number")
            return 1
        if line > n_lines:
            print(f"Warning: <line_number> ({line}) is greater than the number of lines in the file ({n_lines})")
            print(f"Warning: Setting <line_number> to {n_lines}")
            line = n_lines
        elif line < 1:
            print(f"Warning: <line_number> ({line}) is less than 1")
            print("Warning: Setting <line_number> to 1")
            line = 1
    else:
        # SWE-agent's quirk: without a line number the window starts from the FIRST_LINE already in the registry
        line = int(registry.get("FIRST_LINE", 0) or 0)
    registry.put("CURRENT_FILE", os.path.abspath(path))
    sys.stdout.write(render(path, lines, goto(line - 1, n_lines)))
    return 0


def cmd_goto(args):
    if len(args) > 1:
        print("goto allows only one line number at a time.")
        return 1
    if not args:
        print("Usage: goto <line>")
        return 1
    path = current_file()
    if path is None:
        print(NO_FILE)
        return 1
    try:
        line = int(args[0])
    except ValueError:
        print(f"Error: {args[0]} must be a number")
        return 1
    lines = read_lines(path)
    if line > len(lines):
        print(f"Error: {line} must be less than or equal to {len(lines)}")
        return 1
    sys.stdout.write(render(path, lines, goto(line - 1, len(lines))))
    return 0


def cmd_scroll(direction):
    path = current_file()
    if path is None:
        print(NO_FILE)
        return 1
    lines = read_lines(path)
    n_lines = len(lines)
    first = set_first_line(first_line(n_lines) + direction * (window() - overlap()), n_lines)
    sys.stdout.write(render(path, lines, first))
    return 0


def cmd_create(args):
    if len(args) != 1:
        print("Usage: create <filename>")
        return 1
    path = args[0]
    if os.path.exists(path):
        print(f"Warning: File '{path}' already exists.")
        return 1
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    open(path, "a").close()
    registry.put("CURRENT_FILE", os.path.abspath(path))
    sys.stdout.write(render(path, [], set_first_line(0, 0)))
    return 0


def lint(path):
    """flake8-style lines for a Python file: LINT_COMMAND, else flake8, else Python's compile check."""
    command = registry.get("LINT_COMMAND")
    if not command:
        from shutil import which
        if which("flake8") is None:
            import _lint
            return _lint.compile_error(path) or ""
        command = FLAKE8
    r = subprocess.run(command.replace("{file_path}", shlex.quote(path)), shell=True, capture_output=True, text=True)
    return r.stdout + r.stderr


def join_lines(lines, like):
    if not lines:
        return ""
    return "\n".join(lines) + ("\n" if like.endswith("\n") or like == "" else "")


def cmd_edit(args):
    path = current_file()
    if path is None:
        print("No file opened. Use the `open` command first.")
        return 1
    start = end = None
    if args:
        head, _, tail = args[0].partition(":")
        if head.isdigit() and tail.isdigit():
            start, end = int(head), int(tail)
    if start is None or start < 1 or end < start:
        print(EDIT_USAGE)
        return 1
    if len(args) > 1:
        text = " ".join(args[1:])
    else:
        text = sys.stdin.read()
        # a text sent without the heredoc still stops at its end_of_edit line
        kept = []
        for line in text.split("\n"):
            if line.strip() == "end_of_edit":
                break
            kept.append(line)
        text = "\n".join(kept)
    if text.endswith("\n"):
        text = text[:-1]
    replacement = text.split("\n") if text != "" else []

    with open(path, errors="replace") as f:
        original = f.read()
    old_lines = original.splitlines()
    new_lines = old_lines[:start - 1] + replacement + old_lines[end:]
    before = lint(path) if path.endswith(".py") else ""
    try:
        with open(path, "w") as f:
            f.write(join_lines(new_lines, original))
    except OSError:
        print(f"Error: You cannot edit read-only file {path}")
        return 1
    errors = []
    if path.endswith(".py"):
        import _lint
        errors = _lint.new_errors(lint(path), before, start, end, len(replacement))
    if errors:
        first = first_line(len(old_lines))
        with open(path, "w") as f:
            f.write(original)
        sys.stdout.write(
            "Your proposed edit has introduced new syntax error(s). Please read this error message carefully and then "
            "retry editing the file.\n\nERRORS:\n" + "\n".join(errors) + "\n\n"
            "This is how your edit would have looked if applied\n" + RULE + "\n"
            + render(path, new_lines, clamp(first, len(new_lines))) + RULE + "\n\n"
            "This is the original code before your edit\n" + RULE + "\n"
            + render(path, old_lines, first) + RULE + "\n\n"
            "Your changes have NOT been applied. Please fix your edit command and try again.\n"
            "DO NOT re-run the same failed edit command. Running it again will lead to the same error.\n")
        return 1
    sys.stdout.write("File updated. Please review the changes and make sure they are correct\n"
                     "(correct indentation, no duplicate lines, etc). Edit the file again if necessary.\n")
    sys.stdout.write(render(path, new_lines, goto(start - 1, len(new_lines))))
    return 0


def cmd_state(args):
    path = current_file()
    state = {"open_file": path if path else "n/a", "working_dir": os.getcwd()}
    with open(args[0], "w") as f:
        json.dump(state, f)
    return 0


def main(argv):
    if not argv:
        sys.exit(__doc__)
    command, args = argv[0], argv[1:]
    handlers = {
        "open": cmd_open, "goto": cmd_goto, "create": cmd_create, "edit": cmd_edit, "state": cmd_state,
        "scroll_up": lambda _: cmd_scroll(-1), "scroll_down": lambda _: cmd_scroll(1),
    }
    if command not in handlers:
        sys.exit(__doc__)
    sys.exit(handlers[command](args))


if __name__ == "__main__":
    main(sys.argv[1:])
