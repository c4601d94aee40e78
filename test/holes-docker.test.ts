// The holes a hostile agent found, on the docker backend (needs dockerd and the sandbox image: .ci/docker-up;
// skips without an engine unless CI=true, as docker.test.ts).
import t from 'tap'
import Docker from 'dockerode'
import { holes } from './holes-cases.js'

t.setTimeout(6 * 60_000)
const sock = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock'
const problem = await new Docker({ socketPath: sock }).getImage('synthgym/sandbox:latest').inspect()
  .then(() => null, (e: Error) => `no engine with the sandbox image on ${sock} (${e.message})`)
if (problem === null) holes(t, 'docker', 'docker')
else if (process.env.CI === 'true') t.fail(`CI=true but ${problem}: run .ci/docker-up`)
else t.test('docker holes', { skip: problem }, async () => {})
