"""Request guards: bearer token, security headers (a strict Content-Security-Policy), body size and time.

Pure ASGI middleware (no buffering of bodies), so that an oversized upload is refused from its
``Content-Length`` before a byte of it is read.
"""

from __future__ import annotations

import asyncio
import hmac
import json

#: The page and the API: nothing but this origin, no inline script or style, no framing.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
#: The generated OpenAPI page (Swagger UI, served from the package) starts itself with an inline script.
DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")
#: A report is a self-contained document: inline style and inlined images only, no script.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'"

UPLOAD_PATH = "/api/v1/analyses"
OPEN_PATHS = ("/api/v1/healthz",)


def token_ok(header: str | None, token: str) -> bool:
    if not header or not header.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())


async def _send_json(send, status: int, message: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"content-security-policy", CSP.encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """Token (for /api/ and /metrics), upload size by Content-Length, request timeout, security headers."""

    def __init__(self, app, *, token: str | None, max_body: int, timeout: float) -> None:
        self.app, self.token, self.max_body, self.timeout = app, token, max_body, timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token and (path.startswith("/api/") or path == "/metrics") and path not in OPEN_PATHS \
                and not path.startswith("/api/v1/docs") and path != "/api/v1/openapi.json":
            if not token_ok(headers.get("authorization"), self.token):
                return await _send_json(send, 401, "a bearer token is required (Authorization: Bearer TOKEN)",
                                        [(b"www-authenticate", b"Bearer")])
        if scope.get("method") == "POST" and path.rstrip("/") == UPLOAD_PATH:
            length = headers.get("content-length")
            if length is None:
                return await _send_json(send, 411, "uploads need a Content-Length header")
            try:
                n = int(length)
            except ValueError:
                return await _send_json(send, 400, "bad Content-Length header")
            if n > self.max_body:
                return await _send_json(send, 413, f"upload of {n} bytes is over the limit of {self.max_body} "
                                                   "bytes for one request (--max-upload-mb)")
        csp = DOCS_CSP if path.startswith("/api/v1/docs") else REPORT_CSP if path.endswith("/report.html") else CSP
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = [(b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
                         (b"cross-origin-opener-policy", b"same-origin")]
                if path.startswith("/api/"):
                    extra.append((b"cache-control", b"no-store"))
                names = {k.lower() for k, _ in message.get("headers", [])}
                message = dict(message, headers=list(message.get("headers", [])) +
                               [(k, v) for k, v in extra if k not in names])
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, receive, send_with_headers), self.timeout)
        except asyncio.TimeoutError:
            if not started:
                await _send_json(send, 504, f"request took longer than {self.timeout:g} s")
