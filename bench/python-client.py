"""The Python client's step against the raw HTTP call it makes (urllib, the same request), interleaved one for one
on one environment. Prints one JSON line: {"client": [ms...], "raw": [ms...]}. Run by bench/python-client.ts."""
import json
import sys
import time
import urllib.request

sys.path.insert(0, sys.argv[1])
from synthgym import SynthgymClient  # noqa: E402

url, task, warmup, iterations = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
client = SynthgymClient(url)
env = client.create_env(task=task, max_steps=100000)["env_id"]
client.reset(env)
body = json.dumps({"action": "true"}).encode()


def raw():
    req = urllib.request.Request(url + "/v1/envs/%s/step" % env, data=body, method="POST",
                                 headers={"content-type": "application/json", "accept": "application/json"})
    with urllib.request.urlopen(req) as r:
        json.loads(r.read().decode())


def through_client():
    client.step(env, "true")


out = {"client": [], "raw": []}
for _ in range(warmup):
    raw()
    through_client()
for i in range(iterations):
    pair = [("raw", raw), ("client", through_client)]
    for name, fn in (pair if i % 2 == 0 else pair[::-1]):
        t = time.perf_counter()
        fn()
        out[name].append((time.perf_counter() - t) * 1000)
client.close_env(env)
print(json.dumps(out))
