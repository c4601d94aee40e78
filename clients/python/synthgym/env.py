"""A Gymnasium-style environment over one synthgym environment.

The action is a command line (what the agent would type: `open "train.py"`, `python train.py`, `validate`,
`submit`), the observation its text, `info` the server's info. With gymnasium installed the class is a
`gymnasium.Env` with `Text` action and observation spaces, and `import synthgym` registers `synthgym/<task>` for the
built-in tasks (`synthgym.register_envs()` adds a server's other tasks); without it the same class works on its own.
"""
from __future__ import annotations

import string
from typing import Any, Callable, Dict, Optional, Tuple

from .client import SynthgymClient
from .errors import SynthgymError

try:  # optional: gymnasium is not a dependency
    import gymnasium as _gym
    from gymnasium import spaces as _spaces
except ImportError:  # pragma: no cover - depends on the machine
    _gym = None
    _spaces = None

_Base: Any = _gym.Env if _gym is not None else object

#: fields of POST /v1/envs that `reset(options=...)` and the constructor accept
CREATE_FIELDS = ("max_steps", "reward", "timeouts", "limits", "tool_profile", "backend", "image", "runtime")
#: the longest action the server takes (1 MiB), and a bound for observations (output cap 100 000 plus notes)
MAX_TEXT = 1 << 20
TEXT_CHARSET = string.printable


class SynthgymEnv(_Base):  # type: ignore[misc]
    """One task as a Gymnasium environment.

    `SynthgymEnv("prisonersDilemma", url="http://127.0.0.1:8000", max_steps=20)`; extra keyword arguments are
    POST /v1/envs fields (`reward="improvement"`, `timeouts`, `limits`, `backend`, ...). `on_output`: a callable that
    gets a step's raw output while it runs (the step then goes over the WebSocket).

    `reset(seed=None, options=None)`: a new episode. `options` may carry create-body fields (`max_steps`, `reward`,
    ...): when they differ from the current environment's, it is closed and a new one created with them. The server
    has no seed (the built-in tasks are deterministic); `seed` seeds `np_random` as Gymnasium does and is passed in
    `info["seed"]`.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, task: str, url: Optional[str] = None, client: Optional[SynthgymClient] = None,
                 on_output: Optional[Callable[[str], None]] = None, render_mode: Optional[str] = None,
                 token: Optional[str] = None, **create: Any) -> None:
        if _gym is not None:
            super().__init__()
        unknown = [k for k in create if k not in CREATE_FIELDS]
        if unknown:
            raise TypeError("SynthgymEnv: unknown argument(s) %s (POST /v1/envs takes %s)" % (unknown, CREATE_FIELDS))
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError("render_mode must be one of %s" % self.metadata["render_modes"])
        self.task = task
        self.client = client or SynthgymClient(url, token=token)
        self.on_output = on_output
        self.render_mode = render_mode
        self.create_body: Dict[str, Any] = {k: v for k, v in create.items() if v is not None}
        self.env_id: Optional[str] = None
        self.episode_id: Optional[str] = None
        self.last_observation: Optional[str] = None
        self.last_info: Dict[str, Any] = {}
        self.done = False
        self._ws: Any = None
        if _spaces is not None:
            self.action_space = _spaces.Text(max_length=MAX_TEXT, min_length=1, charset=TEXT_CHARSET)
            self.observation_space = _spaces.Text(max_length=MAX_TEXT + 4096, min_length=0, charset=TEXT_CHARSET)

    # -- Gymnasium API ----------------------------------------------------------------------------------------------
    def reset(self, *, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None) -> Tuple[str, Dict[str, Any]]:
        if _gym is not None:
            super().reset(seed=seed)
        body = dict(self.create_body)
        for k, v in (options or {}).items():
            if k not in CREATE_FIELDS:
                raise ValueError("reset options: unknown field %r (POST /v1/envs takes %s)" % (k, CREATE_FIELDS))
            body[k] = v
        if self.env_id is not None and body != self.create_body:
            self._close_env()
        self.create_body = body
        if self.env_id is None:
            self.env_id = self.client.create_env(self.task, **body)["env_id"]
        r = self.client.reset(self.env_id)
        self.episode_id = r.get("episode_id")
        self.done = False
        self.last_observation = r.get("observation", "")
        info = dict(r.get("info") or {})
        info.update({"env_id": self.env_id, "episode_id": self.episode_id})
        if seed is not None:
            info["seed"] = seed
        self.last_info = info
        return self.last_observation, info

    def step(self, action: str) -> Tuple[str, float, bool, bool, Dict[str, Any]]:
        if not isinstance(action, str):
            raise TypeError("the action is a command line (str), got %s" % type(action).__name__)
        if self.env_id is None:
            raise SynthgymError("NOT_RESET", "call reset() before step()")
        if self.on_output is not None:
            if self._ws is None:
                self._ws = self.client.ws()
            r = self._ws.step(self.env_id, action, on_output=self.on_output)
        else:
            r = self.client.step(self.env_id, action)
        obs = r.get("observation", "")
        terminated = bool(r.get("terminated"))
        truncated = bool(r.get("truncated"))
        # the ids are on the object (env_id, episode_id), not in a step's info: Gymnasium's check_env requires the
        # same seed and action to give the same info, and every episode has a new id
        info = dict(r.get("info") or {})
        self.last_observation, self.last_info = obs, info
        self.done = terminated or truncated
        return obs, float(r.get("reward") or 0.0), terminated, truncated, info

    def render(self) -> Optional[str]:
        if self.render_mode == "ansi":
            return self.last_observation
        return None

    def close(self) -> None:
        self._close_env()
        if self._ws is not None:
            try:
                self._ws.close()
            finally:
                self._ws = None
        if _gym is not None:
            super().close()

    def __enter__(self) -> "SynthgymEnv":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()  # the environment on the server too, not only at the idle timeout

    # -- beyond Gymnasium -------------------------------------------------------------------------------------------
    def evaluate(self) -> Dict[str, Any]:
        """Score the workspace now (not a step): {metrics, submission, error}."""
        return self.client.evaluate(self._need_env())

    def trajectory(self) -> Dict[str, Any]:
        """The current episode as MLGym .traj and results.json."""
        return self.client.trajectory(self._need_env())

    def state(self) -> Dict[str, Any]:
        return self.client.env(self._need_env())

    def _need_env(self) -> str:
        if self.env_id is None:
            raise SynthgymError("NOT_RESET", "call reset() first")
        return self.env_id

    def _close_env(self) -> None:
        if self.env_id is None:
            return
        env_id, self.env_id = self.env_id, None
        try:
            self.client.close_env(env_id)
        except SynthgymError as e:
            if e.code != "NOT_FOUND":  # already closed (idle reaping) is fine
                raise

    def __enter__(self) -> "SynthgymEnv":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


#: the built-in tasks, registered with Gymnasium at import without asking a server
BUILTIN_TASKS = ("digitsClassification", "diabetesRegression", "prisonersDilemma", "rlCartPoleSwingUpModel",
                 "digitsTorchGpu")


def gym_id(task: str) -> str:
    return "synthgym/%s" % task


def register_envs(tasks: Optional[Any] = None, url: Optional[str] = None) -> list:
    """Register `synthgym/<task>` with Gymnasium (if installed) for `tasks`, or for every task of the server at
    `url` ($SYNTHGYM_URL) when None. Returns the ids registered; [] without gymnasium."""
    if _gym is None:
        return []
    if tasks is None:
        tasks = [t["id"] for t in SynthgymClient(url).tasks()]
    done = []
    for task in tasks:
        gid = gym_id(task)
        if gid not in _gym.registry:
            kwargs: Dict[str, Any] = {"task": task}
            if url is not None:
                kwargs["url"] = url
            _gym.register(id=gid, entry_point="synthgym.env:SynthgymEnv", kwargs=kwargs, disable_env_checker=True)
        done.append(gid)
    return done


def gymnasium_available() -> bool:
    return _gym is not None
