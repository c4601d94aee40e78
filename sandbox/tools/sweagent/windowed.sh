# sweagent profile: SWE-agent 1.x's `windowed` bundle (open, goto, scroll_up, scroll_down, create) and its state
# command _state. The window arithmetic and output are in lib/windowed.py.

_swe_windowed() {
    PYTHONDONTWRITEBYTECODE=1 python3 "$_SWE_LIB/windowed.py" "$@"
}

# @yaml
# signature: goto <line_number>
# docstring: moves the window to show <line_number>
# arguments:
#   line_number:
#     type: integer
#     description: the line number to move the window to
#     required: true
goto() {
    _swe_windowed goto "$@"
}

# @yaml
# signature: open "<path>" [<line_number>]
# docstring: opens the file at the given path in the editor. If line_number is provided, the window will be move to include that line
# arguments:
#   path:
#     type: string
#     description: the path to the file to open
#     required: true
#   line_number:
#     type: integer
#     description: the line number to move the window to (if not provided, the window will start at the top of the file)
#     required: false
open() {
    _swe_windowed open "$@"
}

# @yaml
# signature: create <filename>
# docstring: creates and opens a new file with the given name
# arguments:
#   filename:
#     type: string
#     description: the name of the file to create
#     required: true
create() {
    _swe_windowed create "$@"
}

# @yaml
# signature: scroll_up
# docstring: moves the window up {WINDOW} lines
scroll_up() {
    _swe_windowed scroll_up "$@"
}

# @yaml
# signature: scroll_down
# docstring: moves the window down {WINDOW} lines
scroll_down() {
    _swe_windowed scroll_down "$@"
}

# The state command: {"open_file": <absolute path or "n/a">, "working_dir": <cwd>} into $SWE_AGENT_HOME/state.json.
_state() {
    _swe_windowed state "$SWE_AGENT_HOME/state.json"
}
