# Editing commands: edit and insert, with the lint check MLGym runs on Python files. Output is byte-for-byte what
# MLGym's edit_linting.sh / insert_linting.sh print. Needs editor.sh (_constrain_line, _print).

_FLAKE8_SELECT=F821,F822,F831,E111,E112,E113,E999,E902

# Which linter edit and insert use here: flake8 when it is on PATH, else Python's own compile check.
_lint_mode() {
    if command -v flake8 > /dev/null 2>&1; then echo flake8; else echo py_compile; fi
}

# flake8-style lines ("<file>:<line>:<col>: <code> <problem>") for a Python file.
_lint() {
    if [ "$(_lint_mode)" = flake8 ]; then
        flake8 --isolated --select=$_FLAKE8_SELECT "$1" 2>&1
    else
        python3 "$(dirname "${BASH_SOURCE[0]}")/_lint.py" compile "$1" 2>&1
    fi
}

# Replaces lines $2+1..$3 of the open file with the lines on stdin ($2 == $3 inserts after line $2), then for a Python
# file lints it and keeps only the errors that were not there before (mode $1, edit or insert, picks MLGym's window).
# Sets _SPLICE_LINES (lines read), _SPLICE_ERRORS ("- <problem>" lines) and _SPLICE_DIR (backup of the file; the
# caller removes it). Returns 1 after MLGym's message when the file cannot be written.
_splice() {
    local mode=$1 head=$2 tail=$3 line first last
    local -a text=() lines=() spliced=()
    while IFS= read -r line; do text+=("$line"); done
    _SPLICE_LINES=${#text[@]}
    _SPLICE_ERRORS=
    mapfile -t lines < "$CURRENT_FILE"
    # "edit 0:n" stops here with bash's "substring expression < 0", as in MLGym
    spliced=("${lines[@]:0:head}" "${text[@]}" "${lines[@]:tail}")
    # the backup stays out of the workspace unless there is no writable temp dir
    _SPLICE_DIR=$(mktemp -d 2> /dev/null || mktemp -d -p "$(dirname "$CURRENT_FILE")" 2> /dev/null)
    if [ ! -w "$CURRENT_FILE" ] || [ -z "$_SPLICE_DIR" ] || ! cp "$CURRENT_FILE" "$_SPLICE_DIR/backup" 2> /dev/null; then
        rm -rf "$_SPLICE_DIR"
        echo "Error: You cannot edit read-only file $CURRENT_FILE"
        return 1
    fi
    if [[ $CURRENT_FILE == *.py ]]; then _lint "$CURRENT_FILE" > "$_SPLICE_DIR/lint_before"; fi

    printf '%s\n' "${spliced[@]}" >| "$CURRENT_FILE"

    if [[ $CURRENT_FILE == *.py ]]; then
        first=$((head + 1))
        last=$tail
        # MLGym's insert passes a window as long as the inserted text, so older errors below it are compared unshifted.
        if [ "$mode" = insert ]; then last=$((head + _SPLICE_LINES)); fi
        _SPLICE_ERRORS=$(_lint "$CURRENT_FILE" |
            python3 "$(dirname "${BASH_SOURCE[0]}")/_lint.py" new "$_SPLICE_DIR/lint_before" "$first" "$last" "$_SPLICE_LINES")
    fi
}

# Shows the window ($1 centre, $2 lines) between dashed rules, leaving CURRENT_LINE and WINDOW as they were.
_print_framed() {
    local saved_line=$CURRENT_LINE saved_window=$WINDOW
    CURRENT_LINE=$1
    WINDOW=$2
    echo "-------------------------------------------------"
    _constrain_line
    _print
    echo "-------------------------------------------------"
    CURRENT_LINE=$saved_line
    WINDOW=$saved_window
}

# After a rejected change of lines $2+1..$3 ($1 names it: edit, insertion): the errors, the file as it would have
# been, then the file restored from the backup.
_show_rejected() {
    local noun=$1 head=$2 tail=$3
    echo ""
    echo "ERRORS:"
    echo "$_SPLICE_ERRORS"
    echo ""
    echo "This is how your $noun would have looked if applied"
    _print_framed $((_SPLICE_LINES / 2 + head)) $((_SPLICE_LINES + 10))
    echo ""
    cp "$_SPLICE_DIR/backup" "$CURRENT_FILE"
    echo "This is the original code before your $noun"
    _print_framed $(((tail - head + 1) / 2 + head)) $((tail - head + 10))
}

# @yaml
# signature: |-
#   edit <start_line>:<end_line>
#   <replacement_text>
#   end_of_edit
# docstring: replaces lines <start_line> through <end_line> (inclusive) with the given text in the open file. The replacement text is terminated by a line with only end_of_edit on it. All of the <replacement text> will be entered, so make sure your indentation is formatted properly. Python files will be checked for syntax errors after the edit. If the system detects a syntax error, the edit will not be executed. Simply try to edit the file again, but make sure to read the error message and modify the edit command you issue accordingly. Issuing the same command a second time will just lead to the same error message again.
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
    if [ -z "$CURRENT_FILE" ]; then
        echo 'No file open. Use the `open` command first.'
        return
    fi
    # "<start>:<end>" split as MLGym's `cut -d:` does: "3" alone has an empty end
    local rest="$1:" start end
    start=${rest%%:*}
    rest=${rest#*:}
    end=${rest%%:*}
    if [ -z "$start" ] || [ -z "$end" ]; then
        echo "Usage: edit <start_line>:<end_line>"
        return
    fi
    if ! [[ $start =~ ^[0-9]+$ ]]; then
        echo "Usage: edit <start_line>:<end_line>"
        echo "Error: start_line must be a number"
        return
    fi
    if ! [[ $end =~ ^[0-9]+$ ]]; then
        echo "Usage: edit <start_line>:<end_line>"
        echo "Error: end_line must be a number"
        return
    fi
    local head=$((10#$start - 1)) tail=$((10#$end))
    _splice edit "$head" "$tail" || return 1
    if [ -z "$_SPLICE_ERRORS" ]; then
        export CURRENT_LINE=$head
        _constrain_line
        _print
        echo "File updated. Please review the changes and make sure they are correct (correct indentation, no duplicate lines, etc). Edit the file again if necessary."
    else
        echo "Your proposed edit has introduced new syntax error(s). Please read this error message carefully and then retry editing the file."
        _show_rejected edit "$head" "$tail"
        echo "Your changes have NOT been applied. Please fix your edit command and try again."
        echo "You either need to 1) Specify the correct start/end line arguments or 2) Correct your edit code."
        echo "DO NOT re-run the same failed edit command. Running it again will lead to the same error."
    fi
    rm -rf "$_SPLICE_DIR"
}

# @yaml
# signature: |-
#   insert <line_number>
#   <text_to_add>
#   end_of_insert
# docstring: inserts the given text after the specified line number in the open file. The text to insert is terminated by a line with only end_of_insert on it. All of the <text_to_add> will be entered, so make sure your indentation is formatted properly. Python files will be checked for syntax errors after the insertion. If the system detects a syntax error, the insertion will not be executed. Simply try to insert again, but make sure to read the error message and modify the insert command you issue accordingly.
# end_name: end_of_insert
# arguments:
#   line_number:
#     type: integer
#     description: the line number after which to insert the text
#     required: true
#   text_to_add:
#     type: string
#     description: the text to insert after the specified line
#     required: true
insert() {
    if [ -z "$CURRENT_FILE" ]; then
        echo 'No file open. Use the `open` command first.'
        return
    fi
    if [ -z "$1" ]; then
        echo "Usage: insert <line_number>"
        return
    fi
    if ! [[ $1 =~ ^[0-9]+$ ]]; then
        echo "Usage: insert <line_number>"
        echo "Error: line_number must be a number"
        return
    fi
    local head=$((10#$1))
    _splice insert "$head" "$head" || return 1
    if [ -z "$_SPLICE_ERRORS" ]; then
        export CURRENT_LINE=$((head + 1))
        _constrain_line
        _print
        echo "File updated. Please review the changes and make sure they are correct (correct indentation, no duplicate lines, etc). Edit the file again if necessary."
    else
        echo "Your proposed insertion has introduced new syntax error(s). Please read this error message carefully and then retry inserting into the file."
        _show_rejected insertion "$head" "$head"
        echo "Your changes have NOT been applied. Please fix your insert command and try again."
        echo "You either need to 1) Specify the correct line number argument or 2) Correct your insertion code."
        echo "DO NOT re-run the same failed insert command. Running it again will lead to the same error."
    fi
    rm -rf "$_SPLICE_DIR"
}
