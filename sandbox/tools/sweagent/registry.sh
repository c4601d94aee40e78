# sweagent profile: the registry (SWE-agent 1.x's `registry` bundle has no tools of its own). _read_env and
# _write_env read and write the JSON registry (lib/registry.py); the other files of this profile need them.

_SWE_LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib"

# _read_env VAR [default]: the registry's value, else the environment variable, else the default
_read_env() {
    PYTHONDONTWRITEBYTECODE=1 python3 "$_SWE_LIB/registry.py" get "$@"
}

# _write_env VAR value
_write_env() {
    PYTHONDONTWRITEBYTECODE=1 python3 "$_SWE_LIB/registry.py" set "$@"
}

# Run once by the init script: an empty registry and state file, as SWE-agent's reset writes them, and the
# workspace baseline submit diffs against (taken once per sandbox).
_sweagent_reset() {
    printf '{}' >| "$SWE_AGENT_ENV_FILE"
    printf '{}' >| "$SWE_AGENT_HOME/state.json"
    PYTHONDONTWRITEBYTECODE=1 python3 "$_SWE_LIB/patch.py" snapshot "$ROOT" "$SWE_AGENT_HOME/.swe-agent-baseline"
}
