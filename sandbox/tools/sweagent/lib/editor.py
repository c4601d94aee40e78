"""str_replace_editor of the sweagent profile: our own implementation of the behaviour SWE-agent 1.x's
`edit_anthropic` bundle documents (view / create / str_replace / insert / undo_edit, `{:6}\\t` numbering, the
16,000-character clip, its error texts and exit codes).

  editor.py COMMAND PATH [--file_text T] [--view_range A B] [--old_str S] [--new_str S] [--insert_line N]

A flag's value is the next argument as it is (it may start with "-").
"""
import os
import subprocess
import sys

COMMANDS = ("view", "create", "str_replace", "insert", "undo_edit")
MAX_RESPONSE_LEN = 16000
SNIPPET_LINES = 4
CLIPPED = ("<response clipped><NOTE>To save on context only part of this file has been shown to you. You should "
           "retry this tool after you have searched inside the file with `grep -n` in order to find the line numbers "
           "of what you are looking for.</NOTE>")


class Failure(Exception):
    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def clip(text):
    return text if len(text) <= MAX_RESPONSE_LEN else text[:MAX_RESPONSE_LEN] + CLIPPED


def numbered(text, descriptor, first=1):
    body = "\n".join(f"{i + first:6}\t{line}" for i, line in enumerate(clip(text).expandtabs().split("\n")))
    return f"Here's the result of running `cat -n` on {descriptor}:\n" + body + "\n"


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    for encoding in (None, "utf-8", "latin-1"):
        try:
            return data.decode(encoding) if encoding else data.decode()
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def write(path, text):
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise Failure(f"Ran into {e} while trying to write to {path}", 20)


def parse(argv):
    if len(argv) < 2:
        raise Failure("Usage: str_replace_editor <command> <path> [--file_text T] [--view_range A B] [--old_str S] "
                      "[--new_str S] [--insert_line N]", 1)
    opts = {"command": argv[0], "path": argv[1]}
    i = 2
    while i < len(argv):
        flag = argv[i]
        if flag == "--view_range":
            opts["view_range"] = argv[i + 1:i + 3]
            i += 3
        elif flag in ("--file_text", "--old_str", "--new_str", "--insert_line") and i + 1 < len(argv):
            opts[flag[2:]] = argv[i + 1]
            i += 2
        else:
            raise Failure(f"Unexpected argument {flag}", 1)
    return opts


def check_path(command, path):
    if not os.path.isabs(path):
        suggestion = os.path.join(os.getcwd(), path)
        raise Failure(f"The path {path} is not an absolute path, it should start with `/`. Maybe you meant {suggestion}?", 6)
    if not os.path.exists(path) and command != "create":
        raise Failure(f"The path {path} does not exist. Please provide a valid path.", 7)
    if os.path.exists(path) and command == "create":
        raise Failure(f"File already exists at: {path}. Cannot overwrite files using command `create`.", 8)
    if os.path.isdir(path) and command != "view":
        raise Failure(f"The path {path} is a directory and only the `view` command can be used on directories", 9)


def view(path, view_range):
    if os.path.isdir(path):
        if view_range is not None:
            raise Failure("The `view_range` parameter is not allowed when `path` points to a directory.", 10)
        listing = subprocess.run(["find", path, "-maxdepth", "2", "-not", "-path", "*/.*"],
                                 capture_output=True, text=True).stdout
        return (f"Here's the files and directories up to 2 levels deep in {path}, excluding hidden items:\n"
                + clip(listing))
    text = read(path)
    if view_range is None:
        return numbered(text, path)
    try:
        if len(view_range) != 2:
            raise ValueError
        start, end = int(view_range[0]), int(view_range[1])
    except ValueError:
        raise Failure("Invalid `view_range`. It should be a list of two integers.", 11)
    lines = text.split("\n")
    n_lines = len(lines)
    if start < 1 or start > n_lines:
        raise Failure(f"Invalid `view_range`: [{start}, {end}]. Its first element `{start}` should be within the range "
                      f"of lines of the file: [1, {n_lines}]", 12)
    if end > n_lines:
        raise Failure(f"Invalid `view_range`: [{start}, {end}]. Its second element `{end}` should be smaller than the "
                      f"number of lines in the file: `{n_lines}`", 13)
    if end != -1 and end < start:
        raise Failure(f"Invalid `view_range`: [{start}, {end}]. Its second element `{end}` should be larger or equal "
                      f"than its first `{start}`", 14)
    shown = lines[start - 1:] if end == -1 else lines[start - 1:end]
    return numbered("\n".join(shown), path, start)


def create(path, file_text):
    if file_text is None:
        raise Failure("Parameter `file_text` is required for command: create", 1)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise Failure(f"The parent directory {parent} does not exist. Please create it first.", 21)
    write(path, file_text)
    return f"File created successfully at: {path}\n"


def str_replace(path, old_str, new_str):
    if old_str is None:
        raise Failure("Parameter `old_str` is required for command: str_replace", 2)
    text = read(path).expandtabs()
    old_str = old_str.expandtabs()
    new_str = "" if new_str is None else new_str.expandtabs()
    count = text.count(old_str)
    if count == 0:
        raise Failure(f"No replacement was performed, old_str `{old_str}` did not appear verbatim in {path}.", 15)
    if count > 1:
        starts, at = [], text.find(old_str)
        while at != -1:
            starts.append(text.count("\n", 0, at) + 1)
            at = text.find(old_str, at + 1)
        lines = sorted(set(starts))
        raise Failure(f"No replacement was performed. Multiple occurrences of old_str `{old_str}` in lines {lines}. "
                      "Please ensure it is unique", 16)
    if old_str == new_str:
        raise Failure(f"No replacement was performed, old_str `{old_str}` is the same as new_str `{new_str}`.", 161)
    new_text = text.replace(old_str, new_str)
    write(path, new_text)
    line = text.split(old_str)[0].count("\n")
    first = max(0, line - SNIPPET_LINES)
    last = line + SNIPPET_LINES + new_str.count("\n")
    snippet = "\n".join(new_text.split("\n")[first:last + 1])
    return (f"The file {path} has been edited. " + numbered(snippet, f"a snippet of {path}", first + 1)
            + "Review the changes and make sure they are as expected. Edit the file again if necessary.\n")


def insert(path, insert_line, new_str):
    if insert_line is None:
        raise Failure("Parameter `insert_line` is required for command: insert", 3)
    if new_str is None:
        raise Failure("Parameter `new_str` is required for command: insert", 4)
    lines = read(path).expandtabs().split("\n")
    n_lines = len(lines)
    try:
        at = int(insert_line)
    except ValueError:
        at = -1
    if at < 0 or at > n_lines:
        raise Failure(f"Invalid `insert_line` parameter: {insert_line}. It should be within the range of lines of the "
                      f"file: [0, {n_lines}]", 17)
    added = new_str.expandtabs().split("\n")
    write(path, "\n".join(lines[:at] + added + lines[at:]))
    snippet = lines[max(0, at - SNIPPET_LINES):at] + added + lines[at:at + SNIPPET_LINES]
    return ("The file " + path + " has been edited. "
            + numbered("\n".join(snippet), "a snippet of the edited file", max(1, at - SNIPPET_LINES + 1))
            + "Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). "
            "Edit the file again if necessary.\n")


def run(argv):
    opts = parse(argv)
    command, path = opts["command"], opts["path"]
    if command not in COMMANDS:
        allowed = ", ".join(f'"{c}"' for c in COMMANDS)
        raise Failure(f"Unrecognized command {command}. The allowed commands for the str_replace_editor tool are: {allowed}", 5)
    check_path(command, path)
    if command == "view":
        return view(path, opts.get("view_range"))
    if command == "create":
        return create(path, opts.get("file_text"))
    if command == "str_replace":
        return str_replace(path, opts.get("old_str"), opts.get("new_str"))
    if command == "insert":
        return insert(path, opts.get("insert_line"), opts.get("new_str"))
    # undo_edit: SWE-agent 1.x keeps the edit history in a copy it never saves, so it always finds none
    raise Failure(f"No edit history found for {path}.", 18)


def main(argv):
    try:
        sys.stdout.write(run(argv))
    except Failure as e:
        print(e)
        sys.exit(e.code)


if __name__ == "__main__":
    main(sys.argv[1:])
