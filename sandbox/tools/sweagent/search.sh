# sweagent profile: SWE-agent 1.x's `search` bundle (find_file, search_dir, search_file). Plain grep (BRE) and find,
# the messages as the bundle prints them; every command returns 0.

# @yaml
# signature: find_file <file_name> [<dir>]
# docstring: finds all files with the given name or pattern in dir. If dir is not provided, searches in the current directory
# arguments:
#   file_name:
#     type: string
#     description: the name of the file or pattern to search for. supports shell-style wildcards (e.g. *.py)
#     required: true
#   dir:
#     type: string
#     description: the directory to search in (if not provided, searches in the current directory)
#     required: false
find_file() {
    if [ $# -lt 1 ] || [ $# -gt 2 ]; then
        echo "Usage: find_file <file_name> [<dir>]"
        return
    fi
    local name=$1 dir=./ matches
    if [ $# -eq 2 ]; then dir=$2; fi
    if [ ! -d "$dir" ]; then
        echo "Directory $dir not found"
        return
    fi
    dir=$(realpath "$dir")
    matches=$(find "$dir" -type f -name "$name")
    if [ -z "$matches" ]; then
        echo "No matches found for \"$name\" in $dir"
        return
    fi
    echo "Found $(wc -l <<< "$matches") matches for \"$name\" in $dir:"
    printf '%s\n' "$matches"
}

# @yaml
# signature: search_dir <search_term> [<dir>]
# docstring: searches for search_term in all files in dir. If dir is not provided, searches in the current directory
# arguments:
#   search_term:
#     type: string
#     description: the term to search for
#     required: true
#   dir:
#     type: string
#     description: the directory to search in (if not provided, searches in the current directory)
#     required: false
search_dir() {
    if [ $# -lt 1 ] || [ $# -gt 2 ]; then
        echo "Usage: search_dir <search_term> [<dir>]"
        return
    fi
    local term=$1 dir=./ counts files total
    if [ $# -eq 2 ]; then dir=$2; fi
    if [ ! -d "$dir" ]; then
        echo "Directory $dir not found"
        return
    fi
    dir=$(realpath "$dir")
    # "<count> <file>" for each file with a match (hidden paths and binary files skipped), by file name
    counts=$(find "$dir" -type f ! -path '*/.*' -exec grep -nIH -- "$term" {} + | cut -d: -f1 | sort | uniq -c)
    if [ -z "$counts" ]; then
        echo "No matches found for \"$term\" in $dir"
        return
    fi
    total=$(awk '{n += $1} END {print n}' <<< "$counts")
    files=$(wc -l <<< "$counts")
    if ((files > 100)); then
        echo "More than $files files matched for \"$term\" in $dir. Please narrow your search."
        return
    fi
    echo "Found $total matches for \"$term\" in $dir:"
    sed -E 's/^ *([0-9]+) (.*)$/\2 (\1 matches)/' <<< "$counts"
    echo "End of matches for \"$term\" in $dir"
}

# @yaml
# signature: search_file <search_term> [<file>]
# docstring: searches for search_term in file. If file is not provided, searches in the current open file
# arguments:
#   search_term:
#     type: string
#     description: the term to search for
#     required: true
#   file:
#     type: string
#     description: the file to search in (if not provided, searches in the current open file)
#     required: false
search_file() {
    if [ $# -lt 1 ] || [ $# -gt 2 ]; then
        echo "Usage: search_file <search_term> [<file>]"
        return
    fi
    local term=$1 file matches
    if [ $# -eq 2 ]; then
        file=$2
        if [ ! -f "$file" ]; then
            echo "Usage: search_file <search_term> [<file>]"
            echo "Error: File name $file not found. Please provide a valid file name."
            return
        fi
    else
        file=$(_read_env CURRENT_FILE)
        if [ -z "$file" ]; then
            echo "No file open. Use the open command first."
            return
        fi
    fi
    file=$(realpath "$file")
    matches=$(grep -nH -- "$term" "$file")
    if [ -z "$matches" ]; then
        echo "No matches found for \"$term\" in $file"
        return
    fi
    echo "Found $(wc -l <<< "$matches") matches for \"$term\" in $file:"
    # "<file>:<n>:<text>" → "Line <n>:<text>", one per line number
    awk -v skip=$((${#file} + 1)) '{ rest = substr($0, skip + 1); n = rest; sub(/:.*/, "", n); if (!seen[n]++) print "Line " n ":" substr(rest, length(n) + 2) }' <<< "$matches"
    echo "End of matches for \"$term\" in $file"
}
