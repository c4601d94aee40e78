"""Cross-call state of the sweagent profile: one JSON object in a file, re-read and re-written on every access.

A key's value is the file's, else the environment variable of the same name, else the caller's default (SWE-agent
1.x's registry precedence). The file is $SWE_AGENT_ENV_FILE, else $SWE_AGENT_HOME/.swe-agent-env (SWE-agent's
/root/.swe-agent-env with /root mapped to the sandbox's home).

CLI:  registry.py get KEY [DEFAULT]   prints the value ("" when there is none)
      registry.py set KEY VALUE
"""
import json
import os
import sys


def env_file():
    explicit = os.environ.get("SWE_AGENT_ENV_FILE")
    if explicit:
        return explicit
    return os.path.join(os.environ.get("SWE_AGENT_HOME") or os.path.expanduser("~"), ".swe-agent-env")


def _load():
    path = env_file()
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        data = {}
        _save(data)
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def _save(data):
    with open(env_file(), "w") as f:
        json.dump(data, f)


def get(key, default=None):
    data = _load()
    if key in data:
        return data[key]
    if key in os.environ:
        return os.environ[key]
    return default


def put(key, value):
    data = _load()
    data[key] = value
    _save(data)


def _text(value):
    return value if isinstance(value, str) else json.dumps(value)


def main(argv):
    if len(argv) in (2, 3) and argv[0] == "get":
        value = get(argv[1], argv[2] if len(argv) == 3 else None)
        print("" if value is None else _text(value))
    elif len(argv) == 3 and argv[0] == "set":
        put(argv[1], argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
