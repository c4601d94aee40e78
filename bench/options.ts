// The benchmark's command line.
import { DEFAULTS } from '../server/config.js'

export interface Options {
  json: string | null
  strict: boolean
  iterations: number
  warmup: number
  resets: number
  resetTasks: string[]
  stepTask: string
  /** realistic mix: rounds of the mix on one env (raw, WS, HTTP each), and envs stepping through it at once */
  mixRounds: number
  mixEnvs: number
  envs: number
  concurrency: number
  manyTask: string
  inProcess: boolean
  budget: number
  only: Set<string>
  /** --only named docker: a missing engine is an error, not a skip */
  dockerAsked: boolean
  image: string
  warmPool: number
  /** which parts of the docker section run: step, reset, many */
  dockerParts: Set<string>
  dockerSteps: number
  dockerExecs: number
  dockerResets: number
  dockerResetTasks: string[]
  dockerEnvs: number
  dockerConcurrency: number
  /** agent section: episodes timed one after another, their steps, and episodes run at once */
  agentEpisodes: number
  agentSteps: number
  agentConcurrent: number
  /** the fake LLM's latency per request in the generation section */
  genLatencyMs: number
  genTopics: number
}

export const SECTIONS = ['step', 'mix', 'openenv', 'python', 'reset', 'many', 'swerex', 'agent', 'aup', 'docker', 'ui', 'generate']

export const HELP = `usage: node dist/bench/run.js [options]
  --json FILE          write the results as JSON to FILE (default: one JSON line at the end of stdout)
  --strict             exit 1 when a target is missed (default: report MISSED, exit 0)
  --iterations N       timed step round trips per measurement (500)
  --warmup N           untimed round trips before each measurement (3000: the step path's steady state; a fresh server's
                       first steps are slower until V8 has optimized it: BENCHMARKS.md section 1)
  --resets N           timed resets per task (20)
  --reset-tasks A,B    built-in tasks whose reset is timed (digitsClassification,diabetesRegression)
  --step-task ID       task of the step-overhead environment (digitsClassification)
  --mix-rounds N       rounds of the realistic action mix and its control (true), each action raw, through
                       the floor relays (WS, HTTP, sandboxed), WS and HTTP (30)
  --mix-envs N         envs stepping through the mix at once (256)
  --envs N             environments open at once (256)
  --concurrency N      environments opened at a time, one WebSocket each (16)
  --many-task ID       task of those environments (digitsClassification)
  --in-process         run the server in this process (default: a child process, as a real deployment)
  --only LIST          run only some of: step,mix,openenv,python,reset,many,swerex,agent,aup,docker,ui,generate (default: all;
                       docker when an engine answers, ui when /usr/bin/chromium is there)
  --budget S           give up after S seconds in all (600)
  --agent-episodes N   agent section: episodes timed one after another (3)
  --agent-steps N      their steps each (50)
  --agent-concurrent N episodes at once through synthgym run's pool (64)
 docker section (two more servers, backend docker, one with a warm pool and one without; own data dirs):
  --image IMAGE        the sandbox image (${DEFAULTS.image})
  --warm-pool N        the server's warm pool per image (2; at least 1)
  --docker-parts LIST  parts of the docker section: step,reset,many (all)
  --docker-steps N     timed WS step round trips of \`true\` on a docker env (300)
  --docker-execs N     timed \`docker exec ID true\` (CLI) and as many dockerode execs (30)
  --docker-resets N    timed warm resets per task and kind, and as many cold \`docker run\`s, interleaved (15)
  --docker-reset-tasks A,B   tasks whose docker reset is timed (prisonersDilemma,digitsClassification)
  --docker-envs N      docker environments stepping at once (32)
  --docker-concurrency N     docker environments opened at a time (8)
 generate section (the pipeline against a fake LLM and the loopback Hub, real checks in local sandboxes):
  --gen-latency MS     the fake LLM's latency per request (1000)
  --gen-topics N       topics in flight at once (8)`

/** The options, or 'help' for -h/--help; throws on a bad argument (the message says which). */
export function parseArgs (argv: string[]): Options | 'help' {
  // field order is the order of `options` in the JSON
  const o: Options = {
    json: null,
    strict: false,
    iterations: 500,
    warmup: 3000,
    resets: 20,
    resetTasks: ['digitsClassification', 'diabetesRegression'],
    stepTask: 'digitsClassification',
    mixRounds: 30,
    mixEnvs: 256,
    envs: 256,
    concurrency: 16,
    manyTask: 'digitsClassification',
    inProcess: false,
    budget: 600,
    only: new Set(SECTIONS),
    dockerAsked: false,
    image: DEFAULTS.image,
    warmPool: 2,
    dockerParts: new Set(['step', 'reset', 'many']),
    dockerSteps: 300,
    dockerExecs: 30,
    dockerResets: 15,
    dockerResetTasks: ['prisonersDilemma', 'digitsClassification'],
    dockerEnvs: 32,
    dockerConcurrency: 8,
    agentEpisodes: 3,
    agentSteps: 50,
    agentConcurrent: 64,
    genLatencyMs: 1000,
    genTopics: 8
  }
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) {
      throw new Error(`${flag} needs a whole number >= ${min} (got ${JSON.stringify(v)})`)
    }
    return n
  }
  const list = (v: string): string[] => v.split(',').map(s => s.trim()).filter(Boolean)
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const v = (): string => {
      const x = argv[++i]
      if (x === undefined) throw new Error(`${a} needs a value`)
      return x
    }
    switch (a) {
      case '--json': o.json = v(); break
      case '--strict': o.strict = true; break
      case '--iterations': o.iterations = int(a, v(), 1); break
      case '--warmup': o.warmup = int(a, v(), 0); break
      case '--resets': o.resets = int(a, v(), 1); break
      case '--reset-tasks': o.resetTasks = list(v()); break
      case '--step-task': o.stepTask = v(); break
      case '--mix-rounds': o.mixRounds = int(a, v(), 1); break
      case '--mix-envs': o.mixEnvs = int(a, v(), 1); break
      case '--envs': o.envs = int(a, v(), 1); break
      case '--concurrency': o.concurrency = int(a, v(), 1); break
      case '--many-task': o.manyTask = v(); break
      case '--in-process': o.inProcess = true; break
      case '--budget': o.budget = int(a, v(), 10); break
      case '--only': {
        o.only = new Set(list(v()))
        const bad = [...o.only].filter(s => !SECTIONS.includes(s))
        if (bad.length || o.only.size === 0) {
          throw new Error(`--only takes step, mix, openenv, python, reset, many, swerex, agent, aup, docker, ui and/or generate (got ${bad.join(',') || 'nothing'})`)
        }
        o.dockerAsked = o.only.has('docker')
        break
      }
      case '--image': o.image = v(); break
      case '--warm-pool': o.warmPool = int(a, v(), 1); break
      case '--docker-parts': o.dockerParts = new Set(list(v())); break
      case '--docker-steps': o.dockerSteps = int(a, v(), 1); break
      case '--docker-execs': o.dockerExecs = int(a, v(), 1); break
      case '--docker-resets': o.dockerResets = int(a, v(), 1); break
      case '--docker-reset-tasks': o.dockerResetTasks = list(v()); break
      case '--docker-envs': o.dockerEnvs = int(a, v(), 1); break
      case '--docker-concurrency': o.dockerConcurrency = int(a, v(), 1); break
      case '--agent-episodes': o.agentEpisodes = int(a, v(), 1); break
      case '--agent-steps': o.agentSteps = int(a, v(), 2); break
      case '--agent-concurrent': o.agentConcurrent = int(a, v(), 1); break
      case '--gen-latency': o.genLatencyMs = int(a, v(), 0); break
      case '--gen-topics': o.genTopics = int(a, v(), 1); break
      case '-h': case '--help': return 'help'
      default: throw new Error(`unknown argument ${a}\n${HELP}`)
    }
  }
  return o
}
