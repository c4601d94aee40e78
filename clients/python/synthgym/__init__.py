"""Python client for synthgym (standard library only).

- `SynthgymClient`: every REST route (`health`, `tasks`, `task`, `tools`, `create_env`, `reset`, `step`, `evaluate`,
  `trajectory`, `env`, `envs`, `close_env`, `episodes`, `episode`) and `iter_episodes` for trainers;
- `WsSession` (`client.ws()`): the WebSocket protocol, with a step's output streamed while it runs;
- `SynthgymEnv`: a Gymnasium-style environment (registered as `synthgym/<task>` when gymnasium is installed);
- `synthgym.trl.make_environment_factory` and `synthgym.trl.score_reward`: TRL's `environment_factory` slot.
"""
from .client import SynthgymClient, EpisodeStream, default_url
from .env import SynthgymEnv, register_envs, gymnasium_available, BUILTIN_TASKS
from .errors import SynthgymError
from .ws import WsSession, WebSocket, WebSocketError, ConnectionClosed

__version__ = "0.1.0"

__all__ = [
    "SynthgymClient", "EpisodeStream", "default_url", "SynthgymEnv", "register_envs", "gymnasium_available",
    "SynthgymError", "WsSession", "WebSocket", "WebSocketError", "ConnectionClosed", "BUILTIN_TASKS",
]

# Gymnasium ids for the built-in tasks (no server is asked at import); register_envs() adds a server's others.
register_envs(BUILTIN_TASKS)
