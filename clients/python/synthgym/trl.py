"""A TRL `environment_factory` class over synthgym, and a reward function reading the episode's score.

    from synthgym.trl import make_environment_factory, score_reward
    Env = make_environment_factory("prisonersDilemma", url="http://127.0.0.1:8000", max_steps=30)
    trainer = GRPOTrainer(..., environment_factory=Env)   # the reward: Env.get_reward, a column named after Env

TRL (1.13) creates one instance per generation with no arguments (so the factory captures the URL and task), calls
`reset(**row)` (the dataset columns; a `task` column picks the task), scores each rollout with `get_reward()` and
exposes every public method but `reset` and `get_reward` as a tool, its schema built from the signature and the
Google-style docstring (transformers' `get_json_schema`).
The methods are generated from the server's GET /v1/tools: one per command of the tool profile (`open`, `edit`,
`search_file`, ..., `validate`, `submit`) plus `bash`, with the server's descriptions. A call becomes the command
line the server's function-calling docs define and runs as one step; it returns the observation. After the episode
ends a call raises ValueError, which TRL feeds back to the model. Nothing else on the class is public and callable.
"""
from __future__ import annotations

import keyword
from typing import Any, Dict, List, Optional

from .client import SynthgymClient
from .errors import SynthgymError
from .tools import ToolSpec, action_from_tool_call, tool_specs

#: instance attributes of SynthgymToolEnv, which no tool may be named after
_ATTRS = ("env_id", "episode_id", "observation", "reward", "done", "score", "baseline", "metric", "exit_status")
_PY_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}


class SynthgymToolEnv:
    """The base of the generated classes: the episode's state, and one step per tool call.

    Public attributes (never callable): `observation`, `reward` (the score improvement over the baseline after the
    last evaluation, 0.0 before), `done`, `score` (the server's score list), `baseline`, `metric`, `env_id`,
    `episode_id`, `exit_status`.
    """

    _task: str = ""
    _url: Optional[str] = None
    _token: Optional[str] = None
    _create: Dict[str, Any] = {}
    _specs: Dict[str, ToolSpec] = {}

    def __init__(self) -> None:
        self._client = SynthgymClient(self._url, token=self._token)
        self._env_task: Optional[str] = None
        self.env_id: Optional[str] = None
        self.episode_id: Optional[str] = None
        self.observation: Optional[str] = None
        self.reward = 0.0
        self.done = False
        self.score: List[Dict[str, float]] = []
        self.baseline: Optional[Dict[str, float]] = None
        self.metric: Dict[str, Any] = {}
        self.exit_status: Optional[str] = None

    def reset(self, **kwargs: Any) -> str:
        """Start a new episode; returns the task prompt (the first observation). A `task` column picks the task."""
        task = kwargs.get("task") if isinstance(kwargs.get("task"), str) else self._task
        if self.env_id is not None and task != self._env_task:
            self._close()
        if self.env_id is None:
            self.env_id = self._client.create_env(task, **self._create)["env_id"]
            self._env_task = task
        r = self._client.reset(self.env_id)
        info = r.get("info") or {}
        self.episode_id = r.get("episode_id")
        self.observation = r.get("observation", "")
        self.reward = 0.0
        self.done = False
        self.score = []
        self.exit_status = None
        self.baseline = info.get("baseline")
        self.metric = info.get("metric") or {}
        return self.observation

    def get_reward(self) -> float:
        """TRL's environment reward (GRPOTrainer calls it after the rollout): the last score's improvement over the
        baseline, as `score_reward` computes it; 0.0 before any score. Not a tool (TRL leaves it out)."""
        return self._improvement()

    def _call_tool(self, name: str, args: Dict[str, Any]) -> str:
        if self.env_id is None:
            raise ValueError("The environment is not reset yet.")
        if self.done:
            raise ValueError("The episode is over (%s); no more tool calls." % (self.exit_status or "done"))
        action = action_from_tool_call(self._specs[name], args)  # ValueError on bad arguments: shown to the model
        try:
            r = self._client.step(self.env_id, action)
        except SynthgymError as e:
            if e.code == "EPISODE_FINISHED":
                self.done = True
            raise ValueError(e.message) from None
        info = r.get("info") or {}
        self.observation = r.get("observation", "")
        self.score = list(info.get("score") or [])
        self.exit_status = info.get("exit_status")
        self.done = bool(r.get("terminated") or r.get("truncated"))
        self.reward = self._improvement()
        return self.observation

    def _improvement(self) -> float:
        return improvement(self.score[-1] if self.score else None, self.baseline, self.metric)

    def _close(self) -> None:
        env_id, self.env_id = self.env_id, None
        if env_id is not None:
            try:
                self._client.close_env(env_id)
            except SynthgymError:
                pass

    def __del__(self) -> None:  # TRL never closes environments: free the server's slot when the instance goes
        try:
            self._close()
        except Exception:
            pass


def improvement(score: Optional[Dict[str, float]], baseline: Optional[Dict[str, float]],
                metric: Dict[str, Any]) -> float:
    """(score - baseline) / |baseline| on the task's metric, sign flipped for a minimized metric; the raw difference
    when the baseline is 0; 0.0 without a score or a baseline. The same formula as the server's `reward: "improvement"`."""
    if not score:
        return 0.0
    name = metric.get("name")
    if name not in score:
        name = next(iter(score))
    s = score.get(name)
    b = (baseline or {}).get(name)
    if s is None or b is None:
        return 0.0
    d = float(s) - float(b)
    if b != 0:
        d /= abs(float(b))
    return -d if metric.get("direction") == "minimize" else d


def score_reward(environments: Optional[List[Any]] = None, **kwargs: Any) -> List[float]:
    """TRL reward function: each environment's last score (validate, submit or autosubmission) against the baseline,
    as `improvement`; 0.0 for an episode with no score. The same value as `get_reward`, for a trainer that takes
    `reward_funcs` (passing both to GRPOTrainer would count it twice)."""
    if environments is None:
        raise ValueError("score_reward needs environment_factory: TRL passes environments=[...]")
    return [env._improvement() if isinstance(env, SynthgymToolEnv) else float(getattr(env, "reward", 0.0) or 0.0)
            for env in environments]


def _docstring(spec: ToolSpec) -> str:
    desc = " ".join(spec.description.split()) or spec.name
    lines = [desc, ""]
    if spec.properties:
        lines.append("Args:")
        for arg, prop in spec.properties.items():
            d = " ".join(str(prop.get("description") or arg).split())
            lines.append("    %s: %s" % (arg, d))
        lines.append("")
    lines += ["Returns:", "    The environment's observation after the command."]
    return "\n".join(lines)


def _method(spec: ToolSpec) -> Any:
    """A real function `def name(self, a: str, b: Optional[int] = None) -> str` (inspect.signature and
    typing.get_type_hints see proper parameters) with the Google-style docstring."""
    params = ["self"]
    required = [a for a in spec.properties if a in spec.required]
    optional = [a for a in spec.properties if a not in spec.required]
    for arg in required + optional:
        if not arg.isidentifier() or keyword.iskeyword(arg):
            raise ValueError("tool %s: argument %r is not a Python identifier" % (spec.name, arg))
        t = _PY_TYPES.get(spec.properties[arg].get("type"), "str")
        params.append("%s: %s" % (arg, t) if arg in spec.required else "%s: Optional[%s] = None" % (arg, t))
    call = ", ".join("%r: %s" % (a, a) for a in spec.properties)
    src = "def %s(%s) -> str:\n    return self._call_tool(%r, {%s})\n" % (spec.name, ", ".join(params), spec.name, call)
    ns: Dict[str, Any] = {"Optional": Optional}
    exec(compile(src, "<synthgym tool %s>" % spec.name, "exec", dont_inherit=True), ns)
    fn = ns[spec.name]
    fn.__doc__ = _docstring(spec)
    fn.__module__ = __name__
    return fn


def make_environment_factory(task: str, url: Optional[str] = None, profile: str = "mlgym",
                             token: Optional[str] = None, client: Optional[SynthgymClient] = None,
                             **create: Any) -> type:
    """A class for `GRPOTrainer(environment_factory=...)`: instances take no arguments, `reset(**row)` returns the
    first observation, the tool profile's commands (and `bash`) are its methods. `create`: POST /v1/envs fields
    (`max_steps`, `reward`, `timeouts`, `limits`, `backend`, ...); the tool profile is `profile`."""
    c = client or SynthgymClient(url, token=token)
    specs = tool_specs(c.tools(profile))
    ns: Dict[str, Any] = {
        "_task": task, "_url": c.base_url, "_token": c.token,
        "_create": dict(create, tool_profile=profile) if profile != "mlgym" else dict(create),
        "_specs": {s.name: s for s in specs},
        "__doc__": "synthgym task %s as a TRL environment; tools: %s." % (task, ", ".join(s.name for s in specs)),
    }
    for spec in specs:
        if not spec.name.isidentifier() or keyword.iskeyword(spec.name) or spec.name.startswith("_") or \
                spec.name in ("reset", "get_reward") or hasattr(SynthgymToolEnv, spec.name) or spec.name in _ATTRS:
            raise ValueError("tool %r cannot be a method name" % spec.name)
        ns[spec.name] = _method(spec)
    safe = "".join(ch if ch.isalnum() else "_" for ch in task)
    return type("SynthgymEnv_%s" % safe, (SynthgymToolEnv,), ns)
