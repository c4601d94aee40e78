// MLGym's prompt framing (configs/agents/default.yaml, in our own words): a system prompt with the tool profile's
// command docs and the response format, the task template around the task description, and the footer every
// observation gets (current step, remaining steps, open file, working directory, `bash-$`).
import type { ResponseMode } from './settings.js'

/** MLGym's editor window (the `WINDOW` session variable of the mlgym profile). */
export const WINDOW = 1000
/** What an empty observation becomes, as in MLGym and SWE-agent. */
export const NO_OUTPUT = 'Your command ran successfully and did not produce any output.'

const FORMAT_THOUGHT_ACTION = `RESPONSE FORMAT:
Your shell prompt is formatted as follows:
(Open file: <path>)
(Current directory: <cwd>)
bash-$

Each answer has two parts: a discussion and a command. Start with a line DISCUSSION and think about what to do in
this step; then give exactly ONE command in a fenced code block, like this:

DISCUSSION
First I'll look at the files in the current directory to see what the task gives me.
\`\`\`
ls -a
\`\`\`

Give exactly one discussion and one command block per answer. Do not write several commands in separate blocks;
if you need several, chain them in one block or wait for the answer of the first. The environment answers each
command before you give the next; interactive programs (python without a script, vim, less) are not supported.`

const FORMAT_FUNCTION_CALLING = `RESPONSE FORMAT:
Each answer is one function call: call exactly ONE of the tools you are given (\`bash\` runs any other shell command).
Say briefly what you are doing and why in the message content. The environment answers each call before you make
the next; interactive programs (python without a script, vim, less) are not supported.`

/** The system prompt: the setting, the commands (thought/action mode: their docs; function calling: the tools), the format. */
export function systemPrompt (opts: { commandDocs: string, mode: ResponseMode }): string {
  const commands = opts.mode === 'thought_action'
    ? `\nCOMMANDS:\n${opts.commandDocs.trimEnd()}\n`
    : ''
  return `SETTING: You are an autonomous machine learning researcher working in a command line with a special interface.

The interface has a file editor that shows ${WINDOW} lines of a file at a time. Besides the usual bash commands you can
use the commands below to look at, search and edit files, and to validate and submit your work.
${commands}
Edits need the indentation right: to add the line '        print(x)' you must write all of its spaces.

${opts.mode === 'thought_action' ? FORMAT_THOUGHT_ACTION : FORMAT_FUNCTION_CALLING}`
}

export interface FooterState { currentStep: number, remainingSteps: number, openFile: string, workingDir: string }

/** MLGym's next_step_template: the observation (or the no-output line) with the step counter and shell state. */
export function withFooter (observation: string, s: FooterState): string {
  return `${observation.trim() === '' ? NO_OUTPUT : observation}\n${footer(s)}`
}

function footer (s: FooterState): string {
  return `(Current Step: ${s.currentStep}, Remaining Steps: ${s.remainingSteps})\n(Open file: ${s.openFile})\n(Current directory: ${s.workingDir})\nbash-$`
}

/** The first user message: the task, the instructions MLGym gives around it, and the footer of step 0. */
export function taskMessage (opts: { description: string, trainingTimeout: number, state: FooterState, mode: ResponseMode }): string {
  const format = opts.mode === 'thought_action'
    ? 'Remember: one DISCUSSION and exactly one command block per answer.'
    : 'Remember: exactly one function call per answer.'
  return `We are solving the following task.

TASK DESCRIPTION:
${opts.description}

INSTRUCTIONS:
Solve the task on your own in this shell, with the commands above and any bash command. You cannot use interactive
session commands (python without a script, vim), but you can write scripts and run them, e.g. \`python train.py\`.
Your code must produce the submission artefact the task describes. \`validate\` scores your current submission
and shows the baseline's score; use it as often as you like. \`submit\` scores it and ends the episode: submit only
when you are done or out of steps. When the step budget runs out, your current submission is scored as it is.

TIPS:
1. Read the baseline script (if there is one) first, and run it to see how it does.
2. Look at the data and the evaluation script before you change the approach.
3. Make one change at a time and check that it helps with \`validate\`.
4. If a command fails, read the error; do not repeat the same command unchanged.
5. Use \`open\`, \`goto\` and \`search_file\` to read files instead of printing them whole.
6. Keep training short: each command must finish within ${opts.trainingTimeout} seconds or it is interrupted.
7. ${format}

${footer(opts.state)}`
}
