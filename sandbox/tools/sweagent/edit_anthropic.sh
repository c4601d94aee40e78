# sweagent profile: SWE-agent 1.x's `edit_anthropic` bundle (str_replace_editor), in lib/editor.py.

# @yaml
# signature: str_replace_editor <command> <path> [<file_text>] [<view_range>] [<old_str>] [<new_str>] [<insert_line>]
# docstring: >-
#   Custom editing tool for viewing, creating and editing files.
#   The state of the files persists across calls.
#   If `path` is a file, `view` shows its lines numbered as `cat -n` numbers them; if `path` is a directory, `view`
#   lists the files and directories in it up to 2 levels deep, hidden ones left out.
#   A long output is clipped and ends with `<response clipped>`.
#   `create` cannot be used when `path` already exists.
#
#   Notes for the `str_replace` command:
#   `old_str` must match EXACTLY one or more consecutive lines of the file, whitespace included, and must occur
#   only once in it; include enough context to make it unique.
#   `new_str` holds the lines that replace `old_str`.
#
#   `insert` adds `new_str` after line `insert_line` (0 puts it before the first line).
#   `undo_edit` reverts the last edit made to the file at `path`.
# arguments:
#   command:
#     type: string
#     description: "The command to run. Allowed options are: `view`, `create`, `str_replace`, `insert`, `undo_edit`."
#     required: true
#     enum: [view, create, str_replace, insert, undo_edit]
#   path:
#     type: string
#     description: Absolute path to file or directory, e.g. `/home/agent/workspace/file.py` or `/home/agent/workspace`.
#     required: true
#   file_text:
#     type: string
#     description: Required parameter of `create` command, with the content of the file to be created.
#     required: false
#     argument_format: "--file_text {{value}}"
#   view_range:
#     type: array
#     items:
#       type: integer
#     description: >-
#       Optional parameter of `view` command when `path` points to a file. Two line numbers, 1-based: [11, 12] shows
#       lines 11 and 12; [start_line, -1] shows all lines from `start_line` to the end of the file.
#     required: false
#     argument_format: "--view_range {{value|join(' ')}}"
#   old_str:
#     type: string
#     description: Required parameter of `str_replace` command containing the string in `path` to replace.
#     required: false
#     argument_format: "--old_str {{value}}"
#   new_str:
#     type: string
#     description: >-
#       Optional parameter of `str_replace` command containing the new string (if not given, no string will be
#       added). Required parameter of `insert` command containing the string to insert.
#     required: false
#     argument_format: "--new_str {{value}}"
#   insert_line:
#     type: integer
#     description: Required parameter of `insert` command. The `new_str` will be inserted AFTER the line `insert_line` of `path`.
#     required: false
#     argument_format: "--insert_line {{value}}"
str_replace_editor() {
    PYTHONDONTWRITEBYTECODE=1 python3 "$_SWE_LIB/editor.py" "$@"
}

# The state command of edit_anthropic writes only the working directory; this profile's _state (windowed.sh)
# writes it together with the open file.
