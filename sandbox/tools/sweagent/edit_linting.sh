# sweagent profile: SWE-agent 1.x's `windowed_edit_linting` bundle (edit), in lib/windowed.py. Python files are
# linted before and after with flake8 (LINT_COMMAND in the registry overrides it); where flake8 is missing, with
# Python's compile check (../_lint.py), as the MLGym profile does.

# @yaml
# signature: |-
#   edit <start_line>:<end_line>
#   <replacement_text>
#   end_of_edit
# docstring: >-
#   Replaces lines <start_line> through <end_line> (inclusive) with the given text in the open file.
#   The replacement text is terminated by a line with only end_of_edit on it.
#   All of the <replacement text> will be entered, so make sure your indentation is formatted properly.
#   Python files will be checked for syntax errors after the edit; if the edit introduces any, it is not applied.
#   THIS COMMAND REQUIRES PROPER INDENTATION.
# end_name: end_of_edit
# arguments:
#   start_line:
#     type: integer
#     description: the line number to start the edit at
#     required: true
#   end_line:
#     type: integer
#     description: the line number to end the edit at (inclusive)
#     required: true
#   replacement_text:
#     type: string
#     description: the text to replace the current selection with
#     required: true
edit() {
    _swe_windowed edit "$@"
}
