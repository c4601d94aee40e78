// The TypeScript client's HTTP calls (node:http on the keep-alive agent, issue 18) against a real server on
// loopback: results, the error shape, and ENV_ELSEWHERE's 307 followed with its method and body, as fetch did.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SynthgymClient, SynthgymError } from '../clients/client.js'
import { testServer } from './helpers.js'

t.test('calls, errors and a followed 307 through the client', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const client = new SynthgymClient(s.url)
  const env = await client.createEnv({ task: 'prisonersDilemma' })
  await client.reset(env.env_id)
  const r = await client.step(env.env_id, 'echo "it\'s $((6 * 7))"')
  t.equal(r.observation, "it's 42")
  const bad = await client.step('no-such-env', 'true').catch(e => e)
  t.ok(bad instanceof SynthgymError)
  t.match(bad, { code: 'NOT_FOUND', status: 404 })
  const invalid = await client.step(env.env_id, 42 as unknown as string).catch(e => e)
  t.match(invalid, { code: 'VALIDATION_ERROR', status: 400, field: 'action' })

  // a front that sends every request on with a 307, as a replica does for an env another one holds
  const seen: string[] = []
  const front = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    res.writeHead(307, { location: s.url + req.url, 'content-type': 'application/json' })
    res.end(JSON.stringify({ error: { code: 'ENV_ELSEWHERE', message: 'elsewhere' } }))
  })
  await new Promise<void>(resolve => front.listen(0, '127.0.0.1', resolve))
  t.teardown(() => front.close())
  const via = new SynthgymClient(`http://127.0.0.1:${(front.address() as AddressInfo).port}`)
  const moved = await via.step(env.env_id, 'printf moved')
  t.equal(moved.observation, 'moved', 'the POST and its body went on to the server')
  t.same(seen, [`POST /v1/envs/${env.env_id}/step`])
  await client.closeEnv(env.env_id)
})
