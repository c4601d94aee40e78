"""The tool profile as the server gives it (GET /v1/tools) and function calls turned into command lines.

The server's `tools` are OpenAI function schemas; the command lines they stand for follow each command's MLGym
signature, which the server gives in `command_docs` (`signature: edit <start_line>:<end_line>` then the text
argument and its terminator `end_of_edit`). `action_from_tool_call` builds the line as the server's own
`actionFromToolCall` (sandbox/tools.ts) does: `open "train.py" 10`, `edit 3:5\\n<text>\\nend_of_edit`, or the `bash`
tool's command as is.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

_SAFE = re.compile(r"^[\w@%+=:,./-]+$", re.ASCII)
# an argument slot in a command signature: ` [<name>]` (optional), `"<name>"` (quoted) or `<name>`
_ARG_SLOT = re.compile(r"(\s*)\[<(\w+)>\]|\"<(\w+)>\"|<(\w+)>", re.ASCII)
_DQ_OK = re.compile(r'^[^"\\$`!]+$')


def shell_quote(value: str) -> str:
    return value if _SAFE.match(value) else "'" + value.replace("'", "'\"'\"'") + "'"


class ToolSpec:
    """One command: its OpenAI schema, its MLGym signature and the terminator of its text argument (if any)."""

    def __init__(self, schema: Dict[str, Any], signature: Optional[str]) -> None:
        fn = schema["function"]
        self.schema = schema
        self.name: str = fn["name"]
        self.description: str = fn.get("description", "")
        params = fn.get("parameters") or {}
        self.properties: Dict[str, Dict[str, Any]] = dict(params.get("properties") or {})
        self.required: List[str] = list(params.get("required") or [])
        self.signature = signature
        lines = signature.split("\n") if signature else []
        self.end_name: Optional[str] = lines[-1].strip() if len(lines) > 1 else None
        names = list(self.properties)
        self.text_arg: Optional[str] = names[-1] if self.end_name is not None and names else None


def parse_signatures(command_docs: str) -> Dict[str, str]:
    """`name -> signature` from MLGym's command docs (a signature may span lines: the text and its terminator)."""
    sigs: Dict[str, str] = {}
    name: Optional[str] = None
    sig: Optional[List[str]] = None
    for line in command_docs.split("\n"):
        if sig is not None:
            if line.startswith(" ") or line.strip() == "":
                sigs[name or ""] = "\n".join(sig)
                sig = None
            else:
                sig.append(line)
                continue
        m = re.match(r"^(\w+):\s*$", line)
        if m:
            name = m.group(1)
        elif line.startswith("  signature: ") and name is not None:
            sig = [line[len("  signature: "):]]
    if sig is not None and name is not None:
        sigs[name] = "\n".join(sig)
    return sigs


def tool_specs(tools_response: Dict[str, Any]) -> List[ToolSpec]:
    """ToolSpecs from a GET /v1/tools answer."""
    sigs = parse_signatures(tools_response.get("command_docs", ""))
    return [ToolSpec(t, sigs.get(t["function"]["name"])) for t in tools_response.get("tools", [])]


def action_from_tool_call(spec: ToolSpec, args: Dict[str, Any]) -> str:
    """The command line for a call of `spec` with `args` (None values are left out). Raises ValueError on bad args."""
    name = spec.name
    if not isinstance(args, dict):
        raise ValueError("%s: arguments must be an object" % name)
    args = {k: v for k, v in args.items() if v is not None}
    for key in args:
        if key not in spec.properties:
            raise ValueError('%s: unknown argument "%s"' % (name, key))
    if spec.signature is None:
        if name == "bash" or list(spec.properties) == ["command"]:
            cmd = args.get("command")
            if not isinstance(cmd, str) or cmd.strip() == "":
                raise ValueError('%s: argument "command" must be a non-empty string' % name)
            return cmd
        raise ValueError("%s: the server gave no signature for this command" % name)
    values: Dict[str, str] = {}
    for arg, prop in spec.properties.items():
        if arg not in args:
            if arg in spec.required:
                raise ValueError('%s: missing required argument "%s"' % (name, arg))
            continue
        value = args[arg]
        if prop.get("type") == "integer":
            ok_int = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            ok_str = isinstance(value, str) and re.match(r"^\d+$", value) is not None
            if not (ok_int or ok_str):
                raise ValueError('%s: argument "%s" must be a non-negative integer' % (name, arg))
            values[arg] = str(value)
        elif not isinstance(value, str):
            raise ValueError('%s: argument "%s" must be a string' % (name, arg))
        elif arg == spec.text_arg:
            if any(line.strip() == spec.end_name for line in value.split("\n")):
                raise ValueError('%s: argument "%s" must not contain a line "%s"' % (name, arg, spec.end_name))
            values[arg] = value
        else:
            if value == "" or "\n" in value:
                raise ValueError('%s: argument "%s" must be a non-empty single line' % (name, arg))
            values[arg] = value

    def fill(m: "re.Match[str]") -> str:
        space, optional, quoted, plain = m.group(1), m.group(2), m.group(3), m.group(4)
        if optional is not None:
            return space + shell_quote(values[optional]) if optional in values else ""
        value = values.get(quoted or plain, "")
        if quoted is not None and _DQ_OK.match(value):
            return '"%s"' % value
        return shell_quote(value)

    first = _ARG_SLOT.sub(fill, spec.signature.split("\n")[0])
    if spec.text_arg is None:
        return first
    text = values.get(spec.text_arg, "")
    if text == "":
        return "%s\n%s" % (first, spec.end_name)
    if text.endswith("\n"):
        text = text[:-1]
    return "%s\n%s\n%s" % (first, text, spec.end_name)
