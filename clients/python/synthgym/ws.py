"""A small RFC 6455 WebSocket client (the standard library has none) and synthgym's WebSocket protocol on top.

`WebSocket` is the transport: the opening handshake with a `Sec-WebSocket-Key` whose `Sec-WebSocket-Accept` is
checked, masked client frames, text and binary messages (fragmented ones reassembled, and optionally sent
fragmented), ping/pong (pings are answered at once) and the closing handshake. `ws://` and `wss://` URLs.

`WsSession` speaks synthgym's protocol: requests `{id, op, ...}`, answers `{id, ok: true, result}` or
`{id, ok: false, error}`, and, while a step runs, `{type: "output", id, env_id, data}` frames with its raw output
(passed to the step's `on_output`). `{type: "step_result", env_id, result}` frames (after `attach`) go to
`on_step_result`. A session is synchronous: one request at a time (a lock guards it across threads).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from .errors import SynthgymError

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


class WebSocketError(SynthgymError):
    """A protocol failure or a closed connection (code `WEBSOCKET` or `DISCONNECTED`)."""


class ConnectionClosed(WebSocketError):
    def __init__(self, close_code: Optional[int] = None, reason: str = "") -> None:
        super().__init__("DISCONNECTED", "the WebSocket closed (code %s%s)" % (close_code, ", " + reason if reason else ""))
        self.close_code = close_code
        self.reason = reason


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value a server must answer for `key` (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def mask_bytes(mask: bytes, data: bytes) -> bytes:
    """XOR `data` with the 4-byte `mask` repeated (one big-integer XOR: fast enough for megabytes)."""
    if not data:
        return b""
    n = len(data)
    reps = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(reps, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes, fin: bool = True, mask: Optional[bytes] = None) -> bytes:
    """One frame; client frames must be masked (`mask`: 4 bytes, None for an unmasked server-side frame)."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    bit = 0x80 if mask is not None else 0
    if n < 126:
        head.append(bit | n)
    elif n < 1 << 16:
        head.append(bit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(bit | 127)
        head += struct.pack("!Q", n)
    if mask is None:
        return bytes(head) + payload
    return bytes(head) + mask + mask_bytes(mask, payload)


class WebSocket:
    """A blocking WebSocket connection. `recv()` returns whole messages as (opcode, payload)."""

    def __init__(self, sock: socket.socket, leftover: bytes = b"", max_message: int = 1 << 30) -> None:
        self.sock = sock
        self._buf = bytearray(leftover)
        self._send_lock = threading.Lock()
        self.max_message = max_message
        self.closed = False
        self.close_code: Optional[int] = None
        self.close_reason = ""

    # -- opening handshake ------------------------------------------------------------------------------------------
    @classmethod
    def connect(cls, url: str, headers: Optional[Dict[str, str]] = None, timeout: Optional[float] = 30.0) -> "WebSocket":
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise WebSocketError("WEBSOCKET", "a WebSocket URL starts with ws:// or wss:// (got %r)" % url)
        secure = parts.scheme == "wss"
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if secure else 80)
        path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            if secure:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            key = base64.b64encode(os.urandom(16)).decode("ascii")
            host_header = host if parts.port is None else "%s:%d" % (host, port)
            if ":" in host and not host.startswith("["):
                host_header = "[%s]:%d" % (host, port)
            lines = [
                "GET %s HTTP/1.1" % path,
                "Host: %s" % host_header,
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Key: %s" % key,
                "Sec-WebSocket-Version: 13",
            ]
            for k, v in (headers or {}).items():
                lines.append("%s: %s" % (k, v))
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            raw = b""
            while b"\r\n\r\n" not in raw:
                chunk = sock.recv(4096)
                if not chunk:
                    raise WebSocketError("WEBSOCKET", "the server closed the connection during the handshake")
                raw += chunk
                if len(raw) > 65536:
                    raise WebSocketError("WEBSOCKET", "handshake answer too long")
            head, leftover = raw.split(b"\r\n\r\n", 1)
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            got: Dict[str, str] = {}
            for line in header_lines:
                if ":" in line:
                    k, v = line.split(":", 1)
                    got[k.strip().lower()] = v.strip()
            status = status_line.split(" ", 2)
            if len(status) < 2 or status[1] != "101":
                body = leftover.decode("utf-8", "replace")
                err = _error_from_body(body)
                if err is not None:
                    raise SynthgymError(err.get("code", "HTTP"), err.get("message", body), int(status[1]) if len(status) > 1 and status[1].isdigit() else None)
                raise WebSocketError("WEBSOCKET", "the server refused the upgrade: %s" % status_line)
            if got.get("upgrade", "").lower() != "websocket" or "upgrade" not in got.get("connection", "").lower():
                raise WebSocketError("WEBSOCKET", "the handshake answer lacks Upgrade: websocket / Connection: Upgrade")
            if got.get("sec-websocket-accept") != accept_key(key):
                raise WebSocketError("WEBSOCKET", "wrong Sec-WebSocket-Accept in the handshake answer")
            sock.settimeout(None)
            return cls(sock, leftover)
        except BaseException:
            sock.close()
            raise

    # -- frames -----------------------------------------------------------------------------------------------------
    def _send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        frame = encode_frame(opcode, payload, fin=fin, mask=os.urandom(4))
        with self._send_lock:
            self.sock.sendall(frame)

    def send_text(self, text: str, fragment_size: Optional[int] = None) -> None:
        """Send a text message; with `fragment_size`, as a first frame plus continuation frames of that many bytes."""
        self.send(text.encode("utf-8"), OP_TEXT, fragment_size)

    def send(self, data: bytes, opcode: int = OP_BINARY, fragment_size: Optional[int] = None) -> None:
        if self.closed:
            raise ConnectionClosed(self.close_code, self.close_reason)
        if not fragment_size or len(data) <= fragment_size:
            self._send_frame(opcode, data)
            return
        pieces = [data[i:i + fragment_size] for i in range(0, len(data), fragment_size)]
        with self._send_lock:  # no control frame of ours between the fragments of one message
            for i, piece in enumerate(pieces):
                op = opcode if i == 0 else OP_CONT
                self.sock.sendall(encode_frame(op, piece, fin=i == len(pieces) - 1, mask=os.urandom(4)))

    def ping(self, payload: bytes = b"") -> None:
        self._send_frame(OP_PING, payload)

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                self.closed = True
                raise ConnectionClosed(1006, "the connection dropped without a close frame")
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _read_frame(self) -> Tuple[bool, int, bytes]:
        b0, b1 = self._read_exact(2)
        fin = bool(b0 & 0x80)
        if b0 & 0x70:
            self._fail(1002, "reserved bits set without an extension")
        opcode = b0 & 0x0F
        masked = bool(b1 & 0x80)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8))[0]
        if opcode >= 0x8 and (n > 125 or not fin):
            self._fail(1002, "a control frame must be short and unfragmented")
        if n > self.max_message:
            self._fail(1009, "message too big")
        mask = self._read_exact(4) if masked else None
        payload = self._read_exact(n)
        if mask is not None:
            payload = mask_bytes(mask, payload)
        return fin, opcode, payload

    def _drop(self, close_payload: Optional[bytes], code: int, reason: str) -> None:
        """Sends a close frame (best effort, none when None), records why, and drops the connection."""
        if close_payload is not None:
            try:
                self._send_frame(OP_CLOSE, close_payload)
            except OSError:
                pass
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        try:
            self.sock.close()
        except OSError:
            pass

    def _fail(self, code: int, reason: str) -> None:
        self._drop(struct.pack("!H", code) + reason.encode("utf-8")[:120], code, reason)
        raise WebSocketError("WEBSOCKET", "protocol error: %s" % reason)

    def recv(self) -> Tuple[int, bytes]:
        """The next data message as (OP_TEXT or OP_BINARY, payload). Answers pings; raises ConnectionClosed on close."""
        if self.closed:
            raise ConnectionClosed(self.close_code, self.close_reason)
        opcode: Optional[int] = None
        parts: List[bytes] = []
        size = 0
        while True:
            fin, op, payload = self._read_frame()
            if op == OP_PING:
                self._send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode("utf-8", "replace")
                # echo the close, then drop the connection
                self._drop(None if self.closed else payload[:2], code, reason)
                raise ConnectionClosed(code, reason)
            if op == OP_CONT:
                if opcode is None:
                    self._fail(1002, "a continuation frame without a message to continue")
            elif op in (OP_TEXT, OP_BINARY):
                if opcode is not None:
                    self._fail(1002, "a new message before the last fragment of the previous one")
                opcode = op
            else:
                self._fail(1002, "unknown opcode %d" % op)
            parts.append(payload)
            size += len(payload)
            if size > self.max_message:
                self._fail(1009, "message too big")
            if fin:
                data = b"".join(parts)
                assert opcode is not None
                return opcode, data

    def recv_text(self) -> str:
        opcode, data = self.recv()
        if opcode != OP_TEXT:
            self._fail(1003, "expected a text message")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self._fail(1007, "a text message that is not UTF-8")
            raise  # not reached

    def close(self, code: int = 1000, reason: str = "", timeout: float = 2.0) -> None:
        """The closing handshake: send a close frame, wait briefly for the server's, drop the connection."""
        if self.closed:
            return
        try:
            self._send_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:120])
            self.sock.settimeout(timeout)
            while True:
                fin, op, payload = self._read_frame()
                if op == OP_CLOSE:
                    self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    break
        except (OSError, WebSocketError):
            pass
        finally:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


def _error_from_body(body: str) -> Optional[Dict[str, Any]]:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    err = data.get("error") if isinstance(data, dict) else None
    return err if isinstance(err, dict) else None


class WsSession:
    """synthgym over one WebSocket. Every method sends a request and waits for its answer."""

    def __init__(self, url: str, token: Optional[str] = None, timeout: Optional[float] = 30.0) -> None:
        headers = {"Authorization": "Bearer %s" % token} if token else None
        self.ws = WebSocket.connect(url, headers=headers, timeout=timeout)
        self._next_id = 1
        self._lock = threading.Lock()
        #: step results of attached environments that no request of this session waits for (after `attach`)
        self.on_step_result: Optional[Callable[[str, Dict[str, Any]], None]] = None
        #: answers that came for ids nobody waits for (kept for inspection)
        self.stray: List[Dict[str, Any]] = []
        #: environments this session created and has not closed: `close()` closes them
        self.opened: List[str] = []

    def request(self, op: str, on_output: Optional[Callable[[str], None]] = None, fragment_size: Optional[int] = None,
                **params: Any) -> Any:
        """Send `{id, op, **params}`; return the answer's result or raise SynthgymError with its code."""
        with self._lock:
            rid = self._next_id
            self._next_id += 1
            msg = dict(params)
            msg["id"] = rid
            msg["op"] = op
            self.ws.send_text(json.dumps(msg), fragment_size=fragment_size)
            while True:
                frame = json.loads(self.ws.recv_text())
                kind = frame.get("type")
                if kind == "output":
                    if frame.get("id") == rid and on_output is not None:
                        on_output(frame.get("data", ""))
                    continue
                if kind == "step_result":
                    if self.on_step_result is not None:
                        self.on_step_result(frame.get("env_id"), frame.get("result"))
                    continue
                if frame.get("id") != rid:
                    self.stray.append(frame)
                    continue
                if frame.get("ok"):
                    return frame.get("result")
                err = frame.get("error") or {}
                raise SynthgymError(err.get("code", "UNKNOWN"), err.get("message", ""), None, err.get("field"),
                                    err.get("details"))

    # -- the protocol's operations ----------------------------------------------------------------------------------
    def ping(self) -> Dict[str, Any]:
        return self.request("ping")

    def tasks(self) -> List[Dict[str, Any]]:
        return self.request("tasks")["tasks"]

    def create(self, task: str, **body: Any) -> Dict[str, Any]:
        made = self.request("create", task=task, **body)
        self.opened.append(made["env_id"])
        return made

    def reset(self, env_id: str) -> Dict[str, Any]:
        return self.request("reset", env_id=env_id)

    def step(self, env_id: str, action: str, on_output: Optional[Callable[[str], None]] = None,
             response: Optional[str] = None, thought: Optional[str] = None) -> Dict[str, Any]:
        """One step; with `on_output`, the command's raw output is streamed to it while it runs."""
        params: Dict[str, Any] = {"env_id": env_id, "action": action, "stream": on_output is not None}
        if response is not None:
            params["response"] = response
        if thought is not None:
            params["thought"] = thought
        return self.request("step", on_output=on_output, **params)

    def evaluate(self, env_id: str) -> Dict[str, Any]:
        return self.request("evaluate", env_id=env_id)

    def trajectory(self, env_id: str) -> Dict[str, Any]:
        return self.request("trajectory", env_id=env_id)

    def state(self, env_id: str) -> Dict[str, Any]:
        return self.request("state", env_id=env_id)

    def attach(self, env_id: str) -> Dict[str, Any]:
        """Re-attach to a live environment after a dropped socket: its state, `running` and `last_step`."""
        return self.request("attach", env_id=env_id)

    def close_env(self, env_id: str) -> Dict[str, Any]:
        if env_id in self.opened:
            self.opened.remove(env_id)
        return self.request("close", env_id=env_id)

    def close(self, close_envs: bool = True) -> None:
        """Close the socket, and first the environments this session created (`close_envs=False` keeps them open
        for another session to `attach`; the server still closes them when they sit idle)."""
        try:
            while close_envs and self.opened:
                try:
                    self.close_env(self.opened[-1])
                except SynthgymError:  # already closed (reaped, closed elsewhere): nothing to do
                    pass
        finally:
            self.ws.close()

    def __enter__(self) -> "WsSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
