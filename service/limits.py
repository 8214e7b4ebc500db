"""Request-body size limit, enforced before the body is read into memory.

A declared Content-Length over the limit is refused at once; a chunked body is
counted as it streams and cut off as soon as it passes the limit.
"""

from __future__ import annotations

import json


class BodySizeLimit:
    """Pure ASGI middleware (no buffering), so a huge upload never reaches the app."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def _reject(self, send) -> None:
        body = json.dumps({"error": {"code": "body_too_large",
                                     "message": f"request body is over the {self.max_bytes} byte limit"}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    return await self._reject(send)
        seen = 0
        too_large = False

        async def limited_receive():
            # Past the limit, tell the app the client left: it stops reading, and whatever it
            # answers is replaced by our 413 (frameworks turn a raised error into a vague 400).
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not too_large:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large:
            await self._reject(send)
