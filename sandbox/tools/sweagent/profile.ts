// What the environment needs of the sweagent tool profile (SWE-agent 1.x's tools, sandbox/tools/sweagent/*.sh):
// the submission marker, where submit leaves the patch, and the state command with its parser. SWE-agent's /root is
// the sandbox's home here (README.md beside this file).
import { AGENT_HOME, WORKSPACE } from '../../types.js'

/** `submit` prints this line once the patch is written (SWE-agent's `<<SWE_AGENT_SUBMISSION>>`). */
export const SWEAGENT_SUBMISSION = /<<SWE_AGENT_SUBMISSION>>/

/** SWE-agent's /root/model.patch: the workspace's changes since the sandbox started, in `git diff` format. */
export const SWEAGENT_PATCH_FILE = `${AGENT_HOME}/model.patch`

/** SWE-agent's /root/state.json, which the state command rewrites after every step. */
export const SWEAGENT_STATE_FILE = `${AGENT_HOME}/state.json`

/** SWE-agent's /root/.swe-agent-env: the JSON registry the tools keep their state in. */
export const SWEAGENT_REGISTRY_FILE = `${AGENT_HOME}/.swe-agent-env`

/**
 * The trailer for the agent's session after each step (ExecOptions.trailer): runs the state command (`_state`, as
 * SWE-agent runs a bundle's state_command) and sets `__sg_st` to state.json's text, for parseSweagentState; `{}`
 * when the tools are not installed. It prints nothing (a trailer's prints are output): both in one redirection.
 */
export const sweagentStateScript = `{ _state; __sg_st=$(< '${SWEAGENT_STATE_FILE}'); } > /dev/null 2>&1 || __sg_st='{}'`

export interface SweagentState { open_file: string, working_dir: string }

/** The step state out of state.json's text: `open_file` ("n/a" when none) and `working_dir` (the workspace when none). */
export function parseSweagentState (text: string): SweagentState {
  let data: unknown
  try { data = JSON.parse(text) } catch { data = null }
  const obj = data !== null && typeof data === 'object' && !Array.isArray(data) ? data as Record<string, unknown> : {}
  const str = (v: unknown): string | null => typeof v === 'string' && v !== '' ? v : null
  return { open_file: str(obj.open_file) ?? 'n/a', working_dir: str(obj.working_dir) ?? WORKSPACE }
}
