"""The Python client against a live synthgym server ($SYNTHGYM_URL). Standard library and the client only.

Run: SYNTHGYM_URL=http://127.0.0.1:8000 PYTHONPATH=clients/python python3 -m unittest discover -s clients/python/tests -v
(test/python-client.test.ts does this inside `npm test` with a server of its own).
"""
import inspect
import os
import socket
import struct
import threading
import time
import typing
import unittest

import synthgym
from synthgym import SynthgymClient, SynthgymEnv, SynthgymError
from synthgym import ws as wsmod
from synthgym.tools import action_from_tool_call, tool_specs
from synthgym.trl import make_environment_factory, score_reward

URL = os.environ.get("SYNTHGYM_URL")
TASK = "prisonersDilemma"
SLOW_LOOP = "for i in 1 2 3; do echo $i; sleep 0.2; done"


def setUpModule():
    if not URL:
        raise unittest.SkipTest("set SYNTHGYM_URL to a running synthgym server")


class HttpTest(unittest.TestCase):
    def setUp(self):
        self.c = SynthgymClient(URL)

    def test_health_tasks_task_tools(self):
        h = self.c.health()
        self.assertEqual(h["status"], "ok")
        ids = [t["id"] for t in self.c.tasks()]
        self.assertIn(TASK, ids)
        t = self.c.task(TASK)
        self.assertEqual(t["id"], TASK)
        self.assertIn("Prisoner", t["description"])
        self.assertEqual(t["metric"]["direction"], "maximize")
        tools = self.c.tools("mlgym")
        names = [x["function"]["name"] for x in tools["tools"]]
        for n in ("open", "edit", "validate", "submit", "bash"):
            self.assertIn(n, names)
        self.assertIn("signature:", tools["command_docs"])

    def test_episode_over_http(self):
        e = self.c.create_env(TASK, max_steps=10)
        env_id = e["env_id"]
        try:
            self.assertEqual(e["task"], TASK)
            self.assertEqual(e["max_steps"], 10)
            self.assertIn(env_id, [x["env_id"] for x in self.c.envs()])
            r = self.c.reset(env_id)
            self.assertIn("Prisoner", r["observation"])
            self.assertTrue(r["episode_id"])
            self.assertEqual(r["info"]["metric"]["name"], "Score")
            s = self.c.step(env_id, "echo hello-from-python", thought="t", response="r")
            self.assertEqual(s["observation"].strip(), "hello-from-python")
            self.assertEqual((s["reward"], s["terminated"], s["truncated"]), (0, False, False))
            self.assertEqual(s["info"]["current_step"], 1)
            ev = self.c.evaluate(env_id)
            self.assertIn("Score", ev["metrics"])
            self.assertEqual(self.c.env(env_id)["current_step"], 1)
            tr = self.c.trajectory(env_id)
            self.assertEqual(len(tr["steps"]), 1)
            self.assertEqual(tr["traj"]["trajectory"][0]["action"], "echo hello-from-python")
            self.assertEqual(tr["episode"]["id"], r["episode_id"])
            got = self.c.episode(r["episode_id"])
            self.assertEqual(got["episode"]["id"], r["episode_id"])
        finally:
            self.assertTrue(self.c.close_env(env_id)["closed"])
        with self.assertRaises(SynthgymError) as cm:
            self.c.env(env_id)
        self.assertEqual((cm.exception.code, cm.exception.status), ("NOT_FOUND", 404))

    def test_errors(self):
        with self.assertRaises(SynthgymError) as cm:
            self.c.create_env("noSuchTask")
        self.assertEqual(cm.exception.code, "NOT_FOUND")
        self.assertEqual(cm.exception.status, 404)
        with self.assertRaises(SynthgymError) as cm:
            self.c.task("noSuchTask")
        self.assertEqual(cm.exception.code, "NOT_FOUND")
        with self.assertRaises(SynthgymError) as cm:
            self.c.create_env(TASK, max_steps="many")
        self.assertEqual((cm.exception.code, cm.exception.status), ("VALIDATION_ERROR", 400))
        self.assertTrue(cm.exception.field)
        e = self.c.create_env(TASK)
        try:
            with self.assertRaises(SynthgymError) as cm:
                self.c.step(e["env_id"], "ls")
            self.assertEqual((cm.exception.code, cm.exception.status), ("NOT_RESET", 409))
        finally:
            self.c.close_env(e["env_id"])
        with self.assertRaises(SynthgymError) as cm:
            SynthgymClient("http://127.0.0.1:9").health()
        self.assertEqual(cm.exception.code, "UNREACHABLE")


class WsTest(unittest.TestCase):
    def test_accept_key(self):  # the RFC 6455 section 1.3 example
        self.assertEqual(wsmod.accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")

    def test_with_block_closes_what_it_opened(self):
        c = SynthgymClient(URL)
        with c.ws() as s:
            made = s.create(TASK, max_steps=5)["env_id"]
            kept = s.create(TASK, max_steps=5)["env_id"]
            s.close_env(kept)  # closed by hand: not closed twice
        ids = [e["env_id"] for e in c.envs()]
        self.assertNotIn(made, ids)
        s2 = c.ws()
        held = s2.create(TASK, max_steps=5)["env_id"]
        s2.close(close_envs=False)
        try:
            self.assertIn(held, [e["env_id"] for e in c.envs()])
        finally:
            c.close_env(held)

    def test_episode_over_ws_with_streamed_output(self):
        s = SynthgymClient(URL).ws()
        try:
            self.assertEqual(s.ping(), {"pong": True})
            self.assertIn(TASK, [t["id"] for t in s.tasks()])
            e = s.create(TASK, max_steps=10)
            env_id = e["env_id"]
            r = s.reset(env_id)
            self.assertIn("Prisoner", r["observation"])
            chunks = []
            times = []

            def on_output(data):
                chunks.append(data)
                times.append(time.monotonic())
            started = time.monotonic()
            res = s.step(env_id, SLOW_LOOP, on_output=on_output)
            done = time.monotonic()
            self.assertGreaterEqual(len(chunks), 2, chunks)  # several frames, not one at the end
            self.assertLess(times[0] - started, (done - started) * 0.8)
            self.assertEqual("".join(chunks).split(), ["1", "2", "3"])
            self.assertEqual(res["observation"].split(), ["1", "2", "3"])
            quiet = s.step(env_id, "echo no-stream")  # stream false: no output frames, only the answer
            self.assertEqual(quiet["observation"].strip(), "no-stream")
            ev = s.evaluate(env_id)
            self.assertIn("Score", ev["metrics"])
            st = s.state(env_id)
            self.assertEqual(st["current_step"], 2)
            self.assertFalse(st["running"])
            at = s.attach(env_id)
            self.assertEqual(at["last_step"]["action"], "echo no-stream")
            tr = s.trajectory(env_id)
            self.assertEqual(len(tr["steps"]), 2)
            # a fragmented client message (continuation frames) is reassembled by the server
            frag = s.request("state", env_id=env_id, fragment_size=5)
            self.assertEqual(frag["env_id"], env_id)
            with self.assertRaises(SynthgymError) as cm:
                s.create("noSuchTask")
            self.assertEqual(cm.exception.code, "NOT_FOUND")
            with self.assertRaises(SynthgymError) as cm:
                s.request("noSuchOp")
            self.assertEqual(cm.exception.code, "VALIDATION_ERROR")
            self.assertTrue(s.close_env(env_id)["closed"])
            s.ws.ping(b"are you there")  # the server's pong is skipped by recv
            self.assertEqual(s.ping(), {"pong": True})
        finally:
            s.close()
        self.assertTrue(s.ws.closed)
        self.assertEqual(s.ws.close_code, 1000)

    def test_frames_against_a_fake_server(self):
        """Fragmented server messages, a ping between fragments (answered with a pong), masking, close."""
        a, b = socket.socketpair()
        try:
            client = wsmod.WebSocket(a)
            b.sendall(wsmod.encode_frame(wsmod.OP_TEXT, "héllo ".encode("utf-8"), fin=False)
                      + wsmod.encode_frame(wsmod.OP_PING, b"p1")
                      + wsmod.encode_frame(wsmod.OP_CONT, b"wor", fin=False)
                      + wsmod.encode_frame(wsmod.OP_CONT, b"ld", fin=True)
                      + wsmod.encode_frame(wsmod.OP_BINARY, bytes(range(256)) * 300))
            self.assertEqual(client.recv_text(), "héllo world")
            pong = _read_client_frame(b)
            self.assertEqual(pong[:2], (wsmod.OP_PONG, b"p1"))
            self.assertTrue(pong[2], "client frames are masked")
            op, data = client.recv()
            self.assertEqual((op, data), (wsmod.OP_BINARY, bytes(range(256)) * 300))
            client.send_text("x" * 70000, fragment_size=30000)
            parts = [_read_client_frame(b) for _ in range(3)]
            self.assertEqual([p[0] for p in parts], [wsmod.OP_TEXT, wsmod.OP_CONT, wsmod.OP_CONT])
            self.assertEqual(b"".join(p[1] for p in parts), b"x" * 70000)
            b.sendall(wsmod.encode_frame(wsmod.OP_CLOSE, struct.pack("!H", 1001) + b"bye"))
            with self.assertRaises(wsmod.ConnectionClosed) as cm:
                client.recv()
            self.assertEqual((cm.exception.close_code, cm.exception.reason), (1001, "bye"))
            self.assertEqual(_read_client_frame(b)[0], wsmod.OP_CLOSE)  # the close is echoed
        finally:
            a.close()
            b.close()

    def test_handshake_rejects_a_wrong_accept(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)

        def serve():
            conn, _ = srv.accept()
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: bm9wZQ==\r\n\r\n")
            conn.close()
        t = threading.Thread(target=serve)
        t.start()
        try:
            with self.assertRaises(wsmod.WebSocketError) as cm:
                wsmod.WebSocket.connect("ws://127.0.0.1:%d/v1/ws" % srv.getsockname()[1], timeout=5)
            self.assertIn("Sec-WebSocket-Accept", str(cm.exception))
        finally:
            t.join()
            srv.close()


def _read_client_frame(sock):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf
    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", exact(8))[0]
    masked = bool(b1 & 0x80)
    mask = exact(4) if masked else b""
    data = exact(n)
    return b0 & 0x0F, wsmod.mask_bytes(mask, data) if masked else data, masked


class GymEnvTest(unittest.TestCase):
    def test_prisoners_dilemma_episode(self):
        with SynthgymEnv(TASK, url=URL, max_steps=10, render_mode="ansi") as env:
            obs, info = env.reset(seed=3)
            self.assertIn("Prisoner", obs)
            self.assertEqual(info["baseline"]["Score"] > 0, True)
            self.assertEqual(info["seed"], 3)
            self.assertEqual(info["max_steps"], 10)
            obs, reward, terminated, truncated, info = env.step('open "strategy.py"')
            self.assertIn("row_strategy", obs)
            self.assertEqual((reward, terminated, truncated), (0.0, False, False))
            self.assertEqual(env.render(), obs)
            obs, reward, terminated, truncated, info = env.step("validate")
            self.assertIn("Evaluation Score", obs)
            self.assertFalse(terminated)
            self.assertIn("Score", info["score"][-1])
            obs, reward, terminated, truncated, info = env.step("submit")
            self.assertTrue(terminated)
            self.assertFalse(truncated)
            self.assertEqual(info["exit_status"], "submitted")
            with self.assertRaises(SynthgymError) as cm:
                env.step("ls")
            self.assertEqual(cm.exception.code, "EPISODE_FINISHED")
            traj = env.trajectory()
            self.assertEqual(len(traj["steps"]), 3)
            # options carry create-body fields: a new environment with them
            first_env = env.env_id
            obs, info = env.reset(options={"max_steps": 2, "reward": "improvement"})
            self.assertNotEqual(env.env_id, first_env)
            self.assertEqual(info["max_steps"], 2)
            env.step("ls")
            env.step("ls")
            obs, reward, terminated, truncated, info = env.step("ls")  # max_steps + 1 autosubmits
            self.assertTrue(truncated)
            self.assertIsInstance(reward, float)
        self.assertIsNone(env.env_id)
        with self.assertRaises(TypeError):
            SynthgymEnv(TASK, url=URL, no_such_field=1)

    def test_streamed_step(self):
        chunks = []
        env = SynthgymEnv(TASK, url=URL, on_output=chunks.append)
        try:
            env.reset()
            obs, *_ = env.step(SLOW_LOOP)
            self.assertGreaterEqual(len(chunks), 2)
            self.assertEqual(obs.split(), ["1", "2", "3"])
        finally:
            env.close()

    def test_gymnasium_registration(self):
        if not synthgym.gymnasium_available():
            self.assertEqual(synthgym.register_envs([TASK]), [])
            self.skipTest("gymnasium is not installed")
        import gymnasium
        self.assertIn("synthgym/" + TASK, gymnasium.registry)
        env = gymnasium.make("synthgym/" + TASK, url=URL, max_steps=5)
        try:
            obs, info = env.reset(seed=0)
            self.assertIn("Prisoner", obs)
            self.assertTrue(env.action_space.contains('open "strategy.py"'))
        finally:
            env.close()

    def test_gymnasium_check_env(self):
        if not synthgym.gymnasium_available():
            self.skipTest("gymnasium is not installed")
        from gymnasium.utils.env_checker import check_env
        env = SynthgymEnv(TASK, url=URL, max_steps=5)
        try:
            check_env(env, skip_render_check=True)  # raises on what Gymnasium's API forbids
            self.assertIsNotNone(env.episode_id)  # the ids are on the object
        finally:
            env.close()


class TrlTest(unittest.TestCase):
    def test_environment_factory(self):
        Env = make_environment_factory(TASK, url=URL, max_steps=10)
        names = [t["function"]["name"] for t in SynthgymClient(URL).tools()["tools"]]
        env = Env()  # TRL instantiates with no arguments
        public = sorted(n for n in dir(env) if not n.startswith("_") and callable(getattr(env, n)))
        self.assertEqual(public, sorted(names + ["get_reward", "reset"]))
        # TRL 1.13's discovery (GRPOTrainer.__init__): the instance's bound methods, public, but reset and get_reward
        exposed = [n for n, _ in inspect.getmembers(env, predicate=inspect.ismethod)
                   if not n.startswith("_") and n not in ("reset", "get_reward")]
        self.assertEqual(sorted(exposed), sorted(names))
        self.assertIs(typing.get_type_hints(Env.submit)["return"], str)
        for n in names:
            fn = getattr(Env, n)
            doc = inspect.getdoc(fn)
            self.assertTrue(doc and "Args:" in doc or not inspect.signature(fn).parameters.keys() - {"self"}, n)
            hints = typing.get_type_hints(fn)
            for p in list(inspect.signature(fn).parameters)[1:]:
                self.assertIn("    %s: " % p, fn.__doc__, (n, p))
                self.assertIn(p, hints)
        sig = inspect.signature(Env.open)
        self.assertEqual(list(sig.parameters), ["self", "path", "line_number"])
        self.assertIs(sig.parameters["path"].annotation, str)
        self.assertEqual(sig.parameters["line_number"].default, None)
        self.assertEqual(typing.get_type_hints(Env.open)["line_number"], typing.Optional[int])
        self.assertIn("opens the file", Env.open.__doc__)
        self.assertEqual(list(inspect.signature(Env.edit).parameters)[1:], ["start_line", "end_line", "replacement_text"])
        # a function call's text is an argument: no "terminated by a line with only end_of_edit" (issue 20)
        for n, end in (("edit", "end_of_edit"), ("insert", "end_of_insert")):
            self.assertNotIn(end, getattr(Env, n).__doc__, n)
            self.assertNotIn("terminated", getattr(Env, n).__doc__, n)
        self.assertIn("is the replacement_text argument", Env.edit.__doc__)
        self.assertEqual(list(inspect.signature(Env.get_reward).parameters), ["self"])
        try:
            obs = env.reset(prompt=[{"role": "user", "content": "x"}])  # dataset columns come as keywords
            self.assertIn("Prisoner", obs)
            self.assertEqual(env.reward, 0.0)
            self.assertEqual(env.get_reward(), 0.0, "no score yet")
            out = env.open(path="strategy.py")
            self.assertIn("row_strategy", out)
            self.assertEqual(env.bash(command="echo via-bash").strip(), "via-bash")
            with self.assertRaises(ValueError):
                env.goto(line_number=-1)
            self.assertIn("Evaluation Score", env.validate())
            self.assertEqual(len(env.score), 1)
            self.assertEqual(env.submit(), "Exited (submit)")
            self.assertTrue(env.done)
            self.assertEqual(env.exit_status, "submitted")
            rewards = score_reward(environments=[env], completions=["c"])
            self.assertEqual(len(rewards), 1)
            self.assertIsInstance(rewards[0], float)
            # the baseline strategy is the one submitted: no improvement
            self.assertAlmostEqual(rewards[0], 0.0, places=6)
            self.assertEqual(env.get_reward(), rewards[0], "get_reward and score_reward agree")
            with self.assertRaises(ValueError) as cm:
                env.bash(command="ls")
            self.assertIn("over", str(cm.exception))
            env.reset()  # a second episode on the same environment
            self.assertFalse(env.done)
            self.assertEqual(env.score, [])
        finally:
            env._close()

    def test_improvement_and_tool_calls(self):
        from synthgym.trl import improvement
        self.assertAlmostEqual(improvement({"acc": 0.9}, {"acc": 0.6}, {"name": "acc", "direction": "maximize"}), 0.5)
        self.assertAlmostEqual(improvement({"rmse": 40.0}, {"rmse": 50.0}, {"name": "rmse", "direction": "minimize"}), 0.2)
        self.assertEqual(improvement(None, {"a": 1}, {}), 0.0)
        specs = {s.name: s for s in tool_specs(SynthgymClient(URL).tools())}
        self.assertEqual(action_from_tool_call(specs["open"], {"path": "a b.py", "line_number": 3}), 'open "a b.py" 3')
        self.assertEqual(action_from_tool_call(specs["edit"], {"start_line": 1, "end_line": 2, "replacement_text": "x = 1\n"}),
                         "edit 1:2\nx = 1\nend_of_edit")
        self.assertEqual(action_from_tool_call(specs["search_dir"], {"search_term": "it's"}), "search_dir 'it'\"'\"'s'")
        with self.assertRaises(ValueError):
            action_from_tool_call(specs["edit"], {"start_line": 1, "end_line": 1, "replacement_text": "end_of_edit"})
        with self.assertRaises(ValueError):
            action_from_tool_call(specs["open"], {})


class EpisodesTest(unittest.TestCase):
    def _skipped_episode(self, c, env_id):
        c.reset(env_id)
        r = c.step(env_id, "skip")
        self.assertTrue(r["terminated"] or r["truncated"])
        return r

    def test_iter_episodes(self):
        c = SynthgymClient(URL)
        e = c.create_env(TASK, max_steps=3)
        env_id = e["env_id"]
        try:
            mine = []
            for _ in range(5):
                self._skipped_episode(c, env_id)
                mine.append(c.env(env_id)["episode_id"])
            filters = {"task": TASK, "status": "finished", "exit_status": "skipped"}
            first = c.episodes(limit=2, **filters)
            self.assertEqual(len(first["episodes"]), 2)
            self.assertTrue(first["next_cursor"])
            stream = c.iter_episodes(limit=2, **filters)
            got = [ep["id"] for ep in stream]
            self.assertTrue(set(mine) <= set(got), (mine, got))
            self.assertEqual(len(got), len(set(got)))
            self.assertGreaterEqual(stream.polls, 3)  # 5+ episodes, pages of 2: followed next_cursor
            later = [ep["id"] for ep in c.iter_episodes(since=first["next_cursor"], limit=2, **filters)]
            self.assertEqual(later, got[2:])

            # waiting: an episode that finishes while the stream waits at the end is yielded
            def late():
                time.sleep(0.6)
                self._skipped_episode(c, env_id)
            t = threading.Thread(target=late)
            t.start()
            waited = c.iter_episodes(since=stream.cursor, wait=20, limit=2, **filters)
            seen = set(got)
            fresh = None
            for ep in waited:
                if ep["id"] not in seen:
                    fresh = ep
                    break
            waited.close()
            t.join()
            self.assertIsNotNone(fresh)
            self.assertEqual(fresh["id"], c.env(env_id)["episode_id"])
            # the last page again, then one long poll the server held until the episode finished: no polling loop
            self.assertEqual(waited.polls, 2)
            # a number of seconds stops the stream once nothing new came for that long
            t0 = time.monotonic()
            rest = list(c.iter_episodes(since=stream.cursor, wait=0.5, limit=500, **filters))
            self.assertLess(time.monotonic() - t0, 10)
            self.assertIn(fresh["id"], [ep["id"] for ep in rest])
        finally:
            c.close_env(env_id)


if __name__ == "__main__":
    unittest.main()
