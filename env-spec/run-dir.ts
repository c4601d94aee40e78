// MLGym's run directory name (run.py `ScriptArguments.run_name` + `_run_<idx>`), which its result scripts glob
// as `*<model>__<task>__*`. Written by `synthgym run`, read by `synthgym aup` and `synthgym export sft`.
//   <model, ':' → '-'>__<task>__<agent config stem>__t-<temp .2f>__p-<top_p .2f>__c-<cost limit .2f>__install-<0|1>[__<suffix>]_run_<idx>
// e.g. metagen-gpt4o2__blotto__default__t-0.00__p-0.95__c-4.00__install-0__parallel_agents_run_3

export interface RunDirName {
  model: string
  task: string
  config: string
  temperature: number
  top_p: number
  cost_limit: number
  install: number
  suffix: string | null
  run: number
}

const RUN_DIR = /^(.+?)__([^_].*?)__(.+?)__t-(\d+(?:\.\d+)?)__p-(\d+(?:\.\d+)?)__c-(\d+(?:\.\d+)?)__install-(\d)(?:__(.+?))?_run_(\d+)$/

/** The parts of a run directory's base name, or null when it is not one. */
export function parseRunDirName (name: string): RunDirName | null {
  const m = RUN_DIR.exec(name)
  if (!m) return null
  return {
    model: m[1]!, task: m[2]!, config: m[3]!, temperature: Number(m[4]), top_p: Number(m[5]), cost_limit: Number(m[6]),
    install: Number(m[7]), suffix: m[8] ?? null, run: Number(m[9])
  }
}

/** The base name MLGym gives a run directory; '/' also becomes '-' (MLGym's ':' rule), so `org/model` is one directory. */
export function formatRunDirName (r: RunDirName): string {
  return `${r.model.replace(/[:/]/g, '-')}__${r.task}__${r.config}__t-${r.temperature.toFixed(2)}__p-${r.top_p.toFixed(2)}` +
    `__c-${r.cost_limit.toFixed(2)}__install-${r.install}${r.suffix ? `__${r.suffix}` : ''}_run_${r.run}`
}
