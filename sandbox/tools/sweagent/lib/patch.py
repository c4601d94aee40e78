"""The workspace baseline and the submission patch of the sweagent profile.

The sandbox's workspace is not a git repository, so `submit` cannot run `git diff --cached` in it. Instead the init
script takes a snapshot of the workspace (outside it) once, and submit diffs the workspace against that snapshot in
`git diff` format (diff --git / mode lines / index lines with git blob ids / unified hunks, 3 lines of context).

Left out, at the snapshot and at the diff: the top-level data/ folder (the task's mounted data) and files over
MAX_BYTES. Symbolic links are not followed and not diffed.

  patch.py snapshot ROOT BASELINE    copies ROOT into BASELINE unless BASELINE is there already
  patch.py diff ROOT BASELINE        prints the patch that turns BASELINE into ROOT
"""
import difflib
import hashlib
import os
import shutil
import stat
import sys

MAX_BYTES = 1 << 20


def tracked(root):
    """Relative paths of the regular files under root that are snapshotted and diffed."""
    found = []
    for folder, dirs, files in os.walk(root):
        rel_folder = os.path.relpath(folder, root)
        if rel_folder == ".":
            dirs[:] = [d for d in dirs if d != "data"]
        dirs.sort()
        for name in files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_size <= MAX_BYTES:
                found.append(os.path.normpath(os.path.join(rel_folder, name)))
    return found


def snapshot(root, baseline):
    if os.path.isdir(baseline):
        return
    staging = baseline + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    for rel in tracked(root):
        dst = os.path.join(staging, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            shutil.copy2(os.path.join(root, rel), dst)
        except OSError:
            continue  # unreadable: not part of the baseline
    os.makedirs(staging, exist_ok=True)
    os.rename(staging, baseline)


def blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()[:7]


def mode(path):
    return "100755" if os.stat(path).st_mode & 0o100 else "100644"


def context(a, start):
    """git's default hunk-header text: the nearest line above the hunk that starts with a letter, _ or $."""
    for line in reversed(a[:max(0, start - 1)]):
        if line[:1].isalpha() or line[:1] in "_$":
            return " " + line.rstrip()[:80].rstrip()
    return ""


def hunks(old, new):
    out = []
    a = old.decode("latin-1").splitlines(keepends=True)
    b = new.decode("latin-1").splitlines(keepends=True)
    for line in list(difflib.unified_diff(a, b, n=3))[2:]:
        if line.startswith("@@"):
            start = int(line.split()[1][1:].split(",")[0])
            out.append(line.rstrip("\n") + context(a, start) + "\n")
        elif line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


def file_patch(rel, old_path, new_path):
    old = open(old_path, "rb").read() if old_path else b""
    new = open(new_path, "rb").read() if new_path else b""
    old_mode = mode(old_path) if old_path else None
    new_mode = mode(new_path) if new_path else None
    if old_path and new_path and old == new and old_mode == new_mode:
        return ""
    head = f"diff --git a/{rel} b/{rel}\n"
    if old_path is None:
        head += f"new file mode {new_mode}\nindex 0000000..{blob_id(new)}\n"
    elif new_path is None:
        head += f"deleted file mode {old_mode}\nindex {blob_id(old)}..0000000\n"
    else:
        if old_mode != new_mode:
            head += f"old mode {old_mode}\nnew mode {new_mode}\n"
        if old == new:
            return head
        head += f"index {blob_id(old)}..{blob_id(new)}" + (f" {new_mode}\n" if old_mode == new_mode else "\n")
    if old == new:
        return head  # an empty file added or deleted
    if b"\0" in old[:8000] or b"\0" in new[:8000]:
        return head + f"Binary files {'a/' + rel if old_path else '/dev/null'} and {'b/' + rel if new_path else '/dev/null'} differ\n"
    head += f"--- {'a/' + rel if old_path else '/dev/null'}\n+++ {'b/' + rel if new_path else '/dev/null'}\n"
    return head + hunks(old, new)


def diff(root, baseline):
    before = set(tracked(baseline)) if os.path.isdir(baseline) else set()
    now = set(tracked(root))
    out = []
    for rel in sorted(before | now):
        if rel not in now and os.path.lexists(os.path.join(root, rel)):
            continue  # still there, but grown past MAX_BYTES (or no longer a regular file): left out
        out.append(file_patch(rel, os.path.join(baseline, rel) if rel in before else None,
                              os.path.join(root, rel) if rel in now else None))
    return "".join(out)


def main(argv):
    if len(argv) == 3 and argv[0] == "snapshot":
        snapshot(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] == "diff":
        sys.stdout.buffer.write(diff(argv[1], argv[2]).encode("latin-1"))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
