// The hostile agent battery on the docker backend (needs dockerd and the sandbox image: .ci/docker-up; skips
// without an engine unless CI=true, as test/docker.test.ts).
import t from 'tap'
import Docker from 'dockerode'
import { battery, DOCKER_SOCKET } from './battery.js'

t.setTimeout(20 * 60_000)
const problem = await new Docker({ socketPath: DOCKER_SOCKET }).getImage('synthgym/sandbox:latest').inspect()
  .then(() => null, (e: Error) => `no engine with the sandbox image on ${DOCKER_SOCKET} (${e.message})`)
if (problem === null) battery(t, 'docker')
else if (process.env.CI === 'true') t.fail(`CI=true but ${problem}: run .ci/docker-up`)
else t.test('docker hostile battery', { skip: problem }, async () => {})
