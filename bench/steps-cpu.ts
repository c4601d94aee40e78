// A fixed amount of stepping in one process, for whole-process CPU accounting (`/usr/bin/time -v`, or any tool
// that pairs two builds): the server in this process, one env, ROUNDS rounds of ACTIONS (`mix`: the realistic mix of
// bench/mix.ts; `true`) over TRANSPORT (ws or http). CPU per step = (CPU of a run − CPU of a run with 0 rounds) /
// steps; the sandbox's shell and what it forks are counted too once they are reaped (closing the env reaps them).
//   node dist/bench/steps-cpu.js ws mix 20
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SynthgymClient } from '../clients/client.js'
import { DEFAULTS } from '../server/config.js'
import { startServer } from '../server/server.js'
import { MIX, MIX_SETUP } from './mix.js'

const [transport = 'ws', actions = 'mix', roundsArg = '20'] = process.argv.slice(2)
const rounds = Number(roundsArg)
const list = actions === 'mix' ? MIX.map(([, a]) => a) : ['true']
const dataDir = mkdtempSync(join(tmpdir(), 'synthgym-steps-cpu-'))
const server = await startServer({ ...DEFAULTS, port: 0, dataDir }, { logger: false })
try {
  const client = new SynthgymClient(server.url)
  // HTTP steps on an environment no socket has touched (a socket would get each of them as a frame)
  if (transport === 'http') {
    const env = await client.createEnv({ task: 'prisonersDilemma', max_steps: 100_000 })
    await client.reset(env.env_id)
    await client.step(env.env_id, MIX_SETUP)
    for (let r = 0; r < rounds; r++) for (const a of list) await client.step(env.env_id, a)
    await client.closeEnv(env.env_id)
  } else {
    const ws = await client.ws()
    const env = await ws.create({ task: 'prisonersDilemma', max_steps: 100_000 })
    await ws.reset(env.env_id)
    await ws.step(env.env_id, MIX_SETUP)
    for (let r = 0; r < rounds; r++) for (const a of list) await ws.step(env.env_id, a)
    await ws.closeEnv(env.env_id)
    ws.close()
  }
} finally {
  await server.close()
  rmSync(dataDir, { recursive: true, force: true })
}
