"""HTTP client for every REST route of a synthgym server (urllib only), and the episode puller for trainers."""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Set, Union

from .errors import SynthgymError

if TYPE_CHECKING:
    from .ws import WsSession

DEFAULT_URL = "http://127.0.0.1:8000"


def default_url() -> str:
    """The server URL: $SYNTHGYM_URL, else http://127.0.0.1:8000."""
    return os.environ.get("SYNTHGYM_URL") or DEFAULT_URL


class SynthgymClient:
    """One synthgym server. Methods return the server's JSON as dicts; errors raise SynthgymError(code, message, status).

    `timeout` (seconds) bounds each HTTP request; the default None lets a step wait as long as the command may run
    (a training command can run for the task's `training_timeout`).
    """

    def __init__(self, base_url: Optional[str] = None, token: Optional[str] = None,
                 timeout: Optional[float] = None) -> None:
        self.base_url = (base_url or default_url()).rstrip("/")
        self.token = token if token is not None else os.environ.get("SYNTHGYM_TOKEN") or None
        self.timeout = timeout

    # -- transport --------------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, query: Optional[Dict[str, Any]] = None) -> Any:
        url = self.base_url + path
        if query:
            q = {k: _query_value(v) for k, v in query.items() if v is not None}
            if q:
                url += "?" + urllib.parse.urlencode(q)
        headers = {"accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["content-type"] = "application/json"
        if self.token:
            headers["authorization"] = "Bearer %s" % self.token
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                raw = res.read()
                return json.loads(raw.decode("utf-8")) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                err = json.loads(raw.decode("utf-8")).get("error") or {}
            except (ValueError, AttributeError):
                err = {}
            raise SynthgymError(err.get("code") or "HTTP_%d" % e.code, err.get("message") or str(e.reason), e.code,
                                err.get("field"), err.get("details")) from None
        except urllib.error.URLError as e:
            raise SynthgymError("UNREACHABLE", "%s: %s" % (self.base_url, e.reason)) from None

    # -- server and tasks -------------------------------------------------------------------------------------------
    def health(self) -> Dict[str, Any]:
        """GET /v1/health: backends, linter, open environments and capacity."""
        return self.request("GET", "/v1/health")

    def tasks(self) -> List[Dict[str, Any]]:
        """GET /v1/tasks: the task summaries (id, name, metric, entrypoint, resources, ...)."""
        return self.request("GET", "/v1/tasks")["tasks"]

    def task(self, task_id: str) -> Dict[str, Any]:
        """GET /v1/tasks/:id: one task's spec, description (prompt) and known baseline."""
        return self.request("GET", "/v1/tasks/" + urllib.parse.quote(task_id, safe=""))

    def tools(self, profile: str = "mlgym") -> Dict[str, Any]:
        """GET /v1/tools: `command_docs` (MLGym's system-prompt text) and `tools` (OpenAI function schemas)."""
        return self.request("GET", "/v1/tools", query={"profile": profile})

    # -- environments -----------------------------------------------------------------------------------------------
    def create_env(self, task: str, **body: Any) -> Dict[str, Any]:
        """POST /v1/envs: `max_steps`, `reward` ("none"|"improvement"|"shaped"), `model`, `meta`, `timeouts`, `limits`,
        `tool_profile`, `backend`, `image`, `runtime` as in the README. Returns the environment's summary with `env_id`."""
        b = {k: v for k, v in body.items() if v is not None}
        b["task"] = task
        return self.request("POST", "/v1/envs", b)

    def envs(self) -> List[Dict[str, Any]]:
        """GET /v1/envs: the open environments."""
        return self.request("GET", "/v1/envs")["envs"]

    def env(self, env_id: str) -> Dict[str, Any]:
        """GET /v1/envs/:id: one environment's state (episode_id, current_step, done, exit_status, score)."""
        return self.request("GET", "/v1/envs/" + _seg(env_id))

    def reset(self, env_id: str) -> Dict[str, Any]:
        """POST /v1/envs/:id/reset: a fresh sandbox and a new episode -> {observation, info, episode_id}."""
        return self.request("POST", "/v1/envs/%s/reset" % _seg(env_id), {})

    def step(self, env_id: str, action: str, response: Optional[str] = None,
             thought: Optional[str] = None, model: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """POST /v1/envs/:id/step -> {observation, reward, terminated, truncated, info}. `model`: the model call
        behind the step (env-spec ModelCall: messages, completion, usage, finish_reason, latency_ms, token ids...),
        stored with the step and returned unchanged with the episode."""
        body: Dict[str, Any] = {"action": action}
        if response is not None:
            body["response"] = response
        if thought is not None:
            body["thought"] = thought
        if model is not None:
            body["model"] = model
        return self.request("POST", "/v1/envs/%s/step" % _seg(env_id), body)

    def evaluate(self, env_id: str) -> Dict[str, Any]:
        """POST /v1/envs/:id/evaluate: score the workspace now (no step) -> {metrics, submission, error}."""
        return self.request("POST", "/v1/envs/%s/evaluate" % _seg(env_id), {})

    def trajectory(self, env_id: str) -> Dict[str, Any]:
        """GET /v1/envs/:id/trajectory: {traj (MLGym .traj), results (results.json), episode, steps}."""
        return self.request("GET", "/v1/envs/%s/trajectory" % _seg(env_id))

    def close_env(self, env_id: str) -> Dict[str, Any]:
        """DELETE /v1/envs/:id."""
        return self.request("DELETE", "/v1/envs/" + _seg(env_id))

    # -- stored episodes --------------------------------------------------------------------------------------------
    def episodes(self, task: Optional[str] = None, status: Optional[str] = None, exit_status: Optional[str] = None,
                 has_score: Optional[bool] = None, cursor: Optional[str] = None, limit: Optional[int] = None,
                 model: Optional[str] = None, improved: Optional[bool] = None, wait: Optional[float] = None,
                 **extra: Any) -> Dict[str, Any]:
        """GET /v1/episodes: one page {episodes, next_cursor}; `next_cursor` is null on the last page. `wait`
        (seconds, at most 60): a page that would be empty is held until a matching episode appears or the time
        passes (the server's long poll)."""
        q: Dict[str, Any] = {"task": task, "status": status, "exit_status": exit_status, "has_score": has_score,
                             "cursor": cursor, "limit": limit, "model": model, "improved": improved, "wait": wait}
        q.update(extra)
        return self.request("GET", "/v1/episodes", query=q)

    def episode(self, episode_id: str) -> Dict[str, Any]:
        """GET /v1/episodes/:id: a stored episode as {episode, traj, results, steps}."""
        return self.request("GET", "/v1/episodes/" + _seg(episode_id))

    def iter_episodes(self, since: Optional[str] = None, wait: Union[bool, float] = False, limit: int = 50,
                      **filters: Any) -> "EpisodeStream":
        """Stored episodes one by one, oldest first, following `next_cursor` from page to page.

        `since`: a cursor (a `next_cursor` from an earlier page, or an earlier stream's `.cursor`) to start after;
        None starts at the first stored episode. `filters`: `task`, `status`, `exit_status`, `has_score`, `model`,
        `improved`.

        `wait`: False stops at the last stored episode. True keeps waiting for new ones forever; a number of seconds
        stops once no new episode came for that long. Waiting is the server's long poll (`wait=` on GET
        /v1/episodes, up to 60 s a request): an episode that finishes is yielded as soon as it is stored, with no
        sleeping and no polling loop.

        With `status="finished"` (or "abandoned") the server pages in the order episodes ended, so an episode that
        ran for hours is still seen once when it finishes; other queries page in creation order.
        """
        return EpisodeStream(self, since, wait, limit, filters)

    # -- WebSocket --------------------------------------------------------------------------------------------------
    def ws_url(self) -> str:
        u = urllib.parse.urlsplit(self.base_url)
        scheme = "wss" if u.scheme == "https" else "ws"
        return urllib.parse.urlunsplit((scheme, u.netloc, u.path.rstrip("/") + "/v1/ws", "", ""))

    def ws(self, timeout: Optional[float] = 30.0) -> "WsSession":
        """A WebSocket session on the same server (streamed step output, re-attach)."""
        from .ws import WsSession
        return WsSession(self.ws_url(), token=self.token, timeout=timeout)


class EpisodeStream:
    """The iterator `SynthgymClient.iter_episodes` returns. `.cursor` is where a later stream can resume (`since=`):
    the cursor of the page now being read (a resumed stream may yield that page's episodes again), or, once a
    waiting stream reached the end, the cursor past the last episode it yielded."""

    def __init__(self, client: SynthgymClient, since: Optional[str], wait: Union[bool, float], limit: int,
                 filters: Dict[str, Any]) -> None:
        self.client = client
        self.cursor = since
        self.wait = wait
        self.limit = limit
        self.filters = filters
        # requests made (pages and long polls)
        self.polls = 0
        self._gen = self._run()

    def __iter__(self) -> "EpisodeStream":
        return self

    def __next__(self) -> Dict[str, Any]:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def _run(self) -> Iterator[Dict[str, Any]]:
        seen: Set[str] = set()
        idle_limit = None if self.wait is True or self.wait is False else float(self.wait)
        last_new = time.monotonic()
        at_tail = False
        while True:
            long_poll: Optional[float] = None
            if at_tail:
                left = MAX_WAIT_SECONDS if idle_limit is None else idle_limit - (time.monotonic() - last_new)
                if left <= 0:
                    return
                long_poll = min(MAX_WAIT_SECONDS, left)
            page = self.client.episodes(cursor=self.cursor, limit=self.limit, wait=long_poll, **self.filters)
            self.polls += 1
            new = [e for e in page.get("episodes", []) if e.get("id") not in seen]
            for e in new:
                seen.add(e["id"])
                yield e
            if new:
                last_new = time.monotonic()
            nxt = page.get("next_cursor")
            if nxt:
                self.cursor = nxt
                seen = set()
                at_tail = False
                continue
            if not self.wait:
                return
            # the last page: ask for what comes after it, held by the server until something new matches
            if page.get("end_cursor"):
                self.cursor = page["end_cursor"]
                seen = set()
            at_tail = True


# the server's longest `wait=` on GET /v1/episodes
MAX_WAIT_SECONDS = 60.0


def _seg(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def _query_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)

