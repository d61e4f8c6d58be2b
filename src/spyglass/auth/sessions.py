"""Browser sessions: an HMAC-signed cookie naming the user, and a CSRF double-submit token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

SESSION_COOKIE = "spyglass_session"
CSRF_COOKIE = "spyglass_csrf"
SESSION_SECONDS = 12 * 3600


class SessionSigner:
    """Issues and checks session tokens; replicas that share ``secret`` accept each other's."""

    def __init__(self, secret: str | None) -> None:
        self._key = (secret or secrets.token_urlsafe(32)).encode()

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def issue(self, username: str, now: float | None = None) -> str:
        expires = int((now or time.time()) + SESSION_SECONDS)
        name = base64.urlsafe_b64encode(username.encode()).decode()
        payload = f"{name}.{expires}"
        return f"{payload}.{self._mac(payload)}"

    def username(self, token: str, now: float | None = None) -> str | None:
        """The user a valid, unexpired token names, else None."""
        try:
            name, expires, mac = token.split(".")
            payload = f"{name}.{expires}"
            if not hmac.compare_digest(mac, self._mac(payload)):
                return None
            if int(expires) < (now or time.time()):
                return None
            return base64.urlsafe_b64decode(name.encode()).decode()
        except (ValueError, UnicodeError):
            return None


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)
