# sweagent profile: SWE-agent 1.x's `submit` bundle. The patch of the workspace against the baseline the init script
# took (lib/patch.py, `git diff` format) goes to $SWE_AGENT_HOME/model.patch, SWE-agent's /root/model.patch; the
# marker tells the environment to take it. A non-empty $SWE_AGENT_HOME/test.patch is reverted first, as SWE-agent
# does with /root/test.patch.

# @yaml
# signature: submit
# docstring: submits the current file
submit() {
    (
        cd "$ROOT" || exit
        if [ -s "$SWE_AGENT_HOME/test.patch" ]; then patch -R -p1 -s < "$SWE_AGENT_HOME/test.patch"; fi
        PYTHONDONTWRITEBYTECODE=1 python3 "$_SWE_LIB/patch.py" diff "$ROOT" "$SWE_AGENT_HOME/.swe-agent-baseline" >| "$SWE_AGENT_HOME/model.patch"
    )
    echo "<<SWE_AGENT_SUBMISSION>>"
}
