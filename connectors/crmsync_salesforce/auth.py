"""OAuth for the Salesforce connector: getting an access token and the instance URL.

Three ways, chosen by the ``auth`` option: ``client_credentials`` (connected app client id and
secret against the My Domain host), ``jwt`` (JWT bearer: an RS256 assertion signed with the
connected app's private key for ``username``), ``token`` (a given access token that cannot be
refreshed). Salesforce sends no expiry: a token is used until a call answers 401, then the
connector asks here once for a new one. Tokens and secrets never appear in reprs or errors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import requests

from crmsync.errors import AuthError, ConfigError, RetryableError

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUTH_MODES = ("client_credentials", "jwt", "token")


@dataclass(frozen=True)
class Token:
    """An access token and the instance it is valid for."""

    access_token: str = field(repr=False)
    instance_url: str


@dataclass(frozen=True)
class Credentials:
    """What the token endpoint needs; secret fields are left out of the repr."""

    mode: str
    token_url: str | None
    instance_url: str | None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    username: str | None = None
    private_key: str | None = field(default=None, repr=False)
    audience: str | None = None
    access_token: str | None = field(default=None, repr=False)

    @property
    def can_refresh(self) -> bool:
        return self.mode != "token"


def fetch_token(credentials: Credentials, session: requests.Session, endpoint: str) -> Token:
    """A token from the OAuth endpoint (or the configured one for ``auth: token``).

    Raises AuthError when the grant is refused, RetryableError for 5xx / unreadable answers.
    """
    if credentials.mode == "token":
        if not credentials.access_token or not credentials.instance_url:
            raise ConfigError("auth: token needs access_token and instance_url", path="options")
        return Token(credentials.access_token, credentials.instance_url)
    if credentials.token_url is None:
        raise ConfigError("set login_url or instance_url", path="options")
    form: dict[str, str]
    if credentials.mode == "client_credentials":
        form = {"grant_type": "client_credentials", "client_id": credentials.client_id or "",
                "client_secret": credentials.client_secret or ""}
    else:
        form = {"grant_type": JWT_GRANT, "assertion": _assertion(credentials)}
    response = session.post(credentials.token_url, data=form,
                            headers={"Accept": "application/json"})
    if response.status_code >= 500:
        raise RetryableError(f"OAuth token endpoint answered HTTP {response.status_code}",
                             endpoint=endpoint, status=response.status_code)
    try:
        body: Any = response.json()
    except ValueError:
        raise RetryableError(f"OAuth token endpoint answered HTTP {response.status_code} without JSON",
                             endpoint=endpoint, status=response.status_code) from None
    if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        error = body.get("error", "?") if isinstance(body, dict) else "?"
        description = body.get("error_description", "") if isinstance(body, dict) else ""
        raise AuthError(
            f"Salesforce refused the {credentials.mode} grant: {error}: {description}"
            f" (client_id {_mask(credentials.client_id)}, user {credentials.username or '-'})",
            endpoint=endpoint, status=response.status_code, code=str(error))
    instance = str(body.get("instance_url") or credentials.instance_url or "").rstrip("/")
    if not instance:
        raise AuthError("token response has no instance_url", endpoint=endpoint)
    return Token(str(body["access_token"]), instance)


def _assertion(credentials: Credentials) -> str:
    import jwt  # PyJWT[crypto]; imported only for this grant

    if not (credentials.client_id and credentials.username and credentials.private_key):
        raise ConfigError("auth: jwt needs client_id, username and private_key (or private_key_file)",
                          path="options")
    claims = {
        "iss": credentials.client_id,
        "sub": credentials.username,
        "aud": credentials.audience,
        "exp": int(time.time()) + 180,  # Salesforce accepts at most 3 minutes ahead
    }
    try:
        return jwt.encode(claims, credentials.private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        # the key text itself must not reach the message
        raise ConfigError(f"private_key is not a usable RSA private key ({type(exc).__name__})",
                          path="options.private_key") from None


def _mask(value: str | None) -> str:
    if not value:
        return "-"
    return value[:6] + "..." if len(value) > 10 else "***"


__all__ = ["AUTH_MODES", "JWT_GRANT", "Credentials", "Token", "fetch_token"]
