"""The one exception the client raises for the server's errors."""
from __future__ import annotations

from typing import Any, Optional


class SynthgymError(Exception):
    """An error answer `{error: {code, message, field?}}` (or a transport failure with a code of ours).

    `code` is the server's stable code (`NOT_FOUND`, `VALIDATION_ERROR`, `EPISODE_FINISHED`, `BUSY`, ...), `status`
    the HTTP status (None over the WebSocket), `field` the offending field where the server names one.
    """

    def __init__(self, code: str, message: str, status: Optional[int] = None, field: Optional[str] = None,
                 details: Any = None) -> None:
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.status = status
        self.field = field
        self.details = details
