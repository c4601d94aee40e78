# File viewer: open, goto, scroll_down, scroll_up, create (and `state` for the environment).
# Sourced into the agent's bash session. Output is byte-for-byte what MLGym's tools print; MLGym
# does its window arithmetic with jq floats, here it is bash integer arithmetic giving the same numbers.
# Shell state: CURRENT_FILE (absolute path), CURRENT_LINE (window centre), WINDOW, OVERLAP.

_line_count() {
    awk 'END {print NR}' "$1"
}

# Prints the window of $WINDOW lines centred on $CURRENT_LINE.
_print() {
    local total half above below last
    total=$(_line_count "$CURRENT_FILE")
    half=$((WINDOW / 2))
    # MLGym floors CURRENT_LINE - WINDOW/2 and rounds the lines below: for an odd WINDOW that is ceil above, floor below.
    above=$((CURRENT_LINE - (WINDOW + 1) / 2))
    below=$((total - CURRENT_LINE - half))
    last=$((CURRENT_LINE + half))
    if ((last < half)); then last=$half; fi
    echo "[File: $(realpath "$CURRENT_FILE") ($total lines total)]"
    if ((above > 0)); then echo "($above more lines above)"; fi
    grep -n '$' < "$CURRENT_FILE" | head -n "$last" | tail -n "$WINDOW"
    if ((below > 0)); then echo "($below more lines below)"; fi
}

# Keeps the window inside the file.
_constrain_line() {
    if [ -z "$CURRENT_FILE" ]; then
        echo "No file open. Use the open command first."
        return
    fi
    local total half line=$CURRENT_LINE
    total=$(_line_count "$CURRENT_FILE")
    half=$((WINDOW / 2))
    if ((line > total - half)); then line=$((total - half)); fi
    if ((line < half)); then line=$half; fi
    export CURRENT_LINE=$line
}

# The window centre that puts line $1 about a sixth of the way down the window.
_centre_on() {
    local line=$(($1 + WINDOW / 2 - WINDOW / 6))
    if ((line < 1)); then line=1; fi
    echo "$line"
}

_is_image() {
    if command -v file > /dev/null 2>&1; then
        file -b --mime-type "$1" 2> /dev/null | grep -q image
        return
    fi
    # images without `file` in the image: judge by the name
    case "${1,,}" in
        *.png | *.jpg | *.jpeg | *.gif | *.bmp | *.webp | *.tif | *.tiff | *.ico) return 0 ;;
    esac
    return 1
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
    if [ -z "$1" ]; then
        echo 'Usage: open "<file>"'
        return
    fi
    if [ -d "$1" ]; then
        echo "Error: $1 is a directory. You can only open files. Use cd or ls to navigate directories."
        return
    fi
    if [ ! -f "$1" ]; then
        echo "File $1 not found"
        return
    fi
    if _is_image "$1"; then
        echo "Error: $1 is an image file. Current environment does not support image viewing."
        return
    fi

    local line=$((WINDOW / 2))
    if [ -n "$2" ]; then
        if ! [[ $2 =~ ^[0-9]+$ ]]; then
            echo 'Usage: open "<file>" [<line_number>]'
            echo "Error: <line_number> must be a number"
            return
        fi
        if (($(wc -c < "$1") > 20000)); then
            echo "The file is larger than 20000 characters, please use 'head -n NUM_LINES' to open it"
            return
        fi
        local total wanted=$((10#$2))
        total=$(_line_count "$1")
        if ((wanted > total)); then
            echo "Warning: <line_number> ($2) is greater than the number of lines in the file ($total)"
            echo "Warning: Setting <line_number> to $total"
            line=$total
        elif ((wanted < 1)); then
            echo "Warning: <line_number> ($2) is less than 1"
            echo "Warning: Setting <line_number> to 1"
            line=1
        else
            line=$(_centre_on "$wanted")
        fi
    fi

    export CURRENT_FILE
    CURRENT_FILE=$(realpath "$1")
    export CURRENT_LINE=$line
    _constrain_line
    _print
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
    if [ $# -gt 1 ]; then
        echo "goto allows only one line number at a time."
        return
    fi
    if [ -z "$CURRENT_FILE" ]; then
        echo "No file open. Use the open command first."
        return
    fi
    if [ -z "$1" ]; then
        echo "Usage: goto <line>"
        return
    fi
    if ! [[ $1 =~ ^[0-9]+$ ]]; then
        echo "Usage: goto <line>"
        echo "Error: <line> must be a number"
        return
    fi
    local total
    total=$(_line_count "$CURRENT_FILE")
    if ((10#$1 > total)); then
        echo "Error: <line> must be less than or equal to $total"
        return
    fi
    export CURRENT_LINE
    CURRENT_LINE=$(_centre_on $((10#$1)))
    _constrain_line
    _print
}

# Moves the window by $1 lines. LAST_ACTION is the previous step's action: the environment exports it after every
# step, so three scrolls in a row earn the warning.
_scroll() {
    if [ -z "$CURRENT_FILE" ]; then
        echo "No file open. Use the open command first."
        return
    fi
    export CURRENT_LINE=$((CURRENT_LINE + $1))
    _constrain_line
    _print
    if [ "$LAST_ACTION" != scroll_up ] && [ "$LAST_ACTION" != scroll_down ]; then
        SCROLL_COUNT=0
    fi
    export SCROLL_COUNT=$((SCROLL_COUNT + 1))
    if ((SCROLL_COUNT >= ${WARN_AFTER_SCROLLING_TIMES:-3})); then
        echo ""
        echo "WARNING: Scrolling many times in a row is very inefficient."
        echo "If you know what you are looking for, use \`search_file <pattern>\` instead."
        echo ""
    fi
}

# @yaml
# signature: scroll_down
# docstring: moves the window down {WINDOW} lines
scroll_down() {
    _scroll $((WINDOW - OVERLAP))
}

# MLGym's docstring for scroll_up says "down"; kept so the prompt is MLGym's.
# @yaml
# signature: scroll_up
# docstring: moves the window down {WINDOW} lines
scroll_up() {
    _scroll $((OVERLAP - WINDOW))
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
    if [ -z "$1" ]; then
        echo "Usage: create <filename>"
        return
    fi
    if [ -e "$1" ]; then
        echo "Error: File '$1' already exists."
        open "$1"
        return
    fi
    printf '\n' > "$1"
    open "$1"
}

# The environment's view of the session after each step (MLGym's state command).
state() {
    local open_file=n/a
    if [ -n "$CURRENT_FILE" ]; then open_file=$(realpath "$CURRENT_FILE"); fi
    echo "{\"open_file\": \"$open_file\", \"working_dir\": \"$PWD\"}"
}
