"""Who may talk to the web app, checked before any page, callback, file or upload is served.

- **A token** when ``aistudio serve`` binds anything but loopback (or when one was chosen): every
  request without it answers 401. It is entered once, through the URL serve prints
  (``/?token=…``) or the form at ``/login``, and then kept in an HTTP-only, SameSite=Strict
  cookie; scripts may send it in the ``X-AIStudio-Token`` header (or ``Authorization: Bearer``).
- **Loopback names only** when serve binds loopback: a request whose ``Host`` header is not
  ``localhost``, ``127.x.x.x`` or ``[::1]`` (with or without the port) is refused with 403, so a
  page of another site cannot reach the app by pointing its own name at 127.0.0.1 (DNS rebinding).
- **Same origin** for every state-changing request (POST, PUT, PATCH, DELETE: Dash callbacks and
  uploads are POSTs): an ``Origin`` header, else a ``Referer``, must name this very address;
  a request with neither (a script) is let through, with the token when one is required.
- **No 500 from Dash's component suites**: a path that, once decoded, climbs (``..``), holds a
  backslash or a NUL, or is no resource Dash registered, is a 404 (Dash raises
  ``DependencyException`` for unknown resources, which Flask turned into a 500).

:func:`install_security` adds all of it to the Flask server; :func:`ui.app.create_app` calls it.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import logging
import re
import secrets
from dataclasses import dataclass
from urllib.parse import unquote, urlencode, urlsplit

from dash.exceptions import DependencyException
from flask import Flask, Response, current_app, request

logger = logging.getLogger(__name__)

TOKEN_COOKIE = "aistudio_token"
TOKEN_HEADER = "X-AIStudio-Token"
TOKEN_QUERY = "token"
LOGIN_PATH = "/login"
COOKIE_MAX_AGE_S = 30 * 24 * 3600
TOKEN_RE = re.compile(r"^[A-Za-z0-9._~-]{12,256}$")
"""What a chosen token may be: safe in a URL, a header and a cookie, and not trivially short."""
CONFIG_KEY = "AISTUDIO_SECURITY"
"""Where the server's config keeps its :class:`Security` (read at every request)."""
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SUITES_PREFIX = "/_dash-component-suites/"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class TokenError(ValueError):
    """A chosen token is not usable (too short, or characters a URL or cookie cannot carry)."""


@dataclass(frozen=True)
class Security:
    """What the app requires of every request.

    Attributes:
        token: the token every request must carry; None: none required.
        loopback_only: refuse requests whose ``Host`` header is not a loopback name.
        cookie_name: the cookie that keeps the token (one per port: cookies ignore ports).
    """

    token: str | None = None
    loopback_only: bool = True
    cookie_name: str = TOKEN_COOKIE

    @classmethod
    def for_bind(cls, host: str, port: int, token: str | None = None) -> Security:
        """The rules for a server bound to ``host:port``.

        A chosen ``token`` is always required. Without one, a loopback address needs none but
        answers loopback ``Host`` names only; any other address gets a generated token.

        Raises:
            TokenError: ``token`` is not usable.
        """
        loopback = is_loopback_bind(host)
        if token is not None:
            token = check_token(token)
        elif not loopback:
            token = new_token()
        return cls(token=token, loopback_only=loopback, cookie_name=f"{TOKEN_COOKIE}_{port}")


def new_token() -> str:
    """A fresh random token (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def check_token(token: str) -> str:
    """``token`` when it is usable as one.

    Raises:
        TokenError: it is shorter than 12 characters or holds anything but letters, digits and
            ``- _ . ~``.
    """
    if not TOKEN_RE.match(token):
        raise TokenError(
            "a token needs 12 to 256 characters, each a letter, a digit or one of - _ . ~"
        )
    return token


def is_loopback_bind(host: str) -> bool:
    """Whether binding ``host`` serves this machine only (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().lower().strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _split_host_header(value: str) -> tuple[str, str] | None:
    """``(name, port)`` of a ``Host`` header value (port '' when absent); None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:]
    else:
        name, _, port = value.partition(":")
        if ":" in port:
            return None
    if port and not port.isdigit():
        return None
    return name, port


def is_loopback_host_header(value: str | None) -> bool:
    """Whether a ``Host`` header names this machine: ``localhost``, ``127.x.x.x`` or ``[::1]``."""
    if not value:
        return False
    parts = _split_host_header(value)
    if parts is None:
        return False
    name = parts[0]
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if address.version == 6 and not value.strip().startswith("["):
        return False
    return address.is_loopback


def _origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of a URL, default ports filled in; None when it has none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _own_origin() -> tuple[str, str, int] | None:
    return _origin(f"{request.scheme}://{request.host}")


def same_origin() -> bool:
    """Whether the current request's ``Origin`` (else ``Referer``) names this very address.

    A request with neither header (a script, not a browser) counts as same-origin: a browser
    always sends ``Origin`` with a cross-site POST.
    """
    own = _own_origin()
    claimed = request.headers.get("Origin")
    if claimed is None:
        claimed = request.headers.get("Referer")
        if claimed is None:
            return True
    return own is not None and _origin(claimed) == own


def bad_suite_path(path: str) -> bool:
    """Whether a ``/_dash-component-suites/…`` path is no resource Dash could serve.

    It is decoded until stable (``%252e`` included) and refused when a segment is ``..`` or
    ``.``, or it holds a backslash, a NUL or a colon.
    """
    decoded = path
    for _ in range(4):
        again = unquote(decoded)
        if again == decoded:
            break
        decoded = again
    else:
        return True  # still encoded after four rounds: nothing Dash registers looks like that
    if any(char in decoded for char in ("\\", "\x00", ":")):
        return True
    return any(segment in ("..", ".") for segment in decoded.split("/"))


def _safe_next(target: str | None) -> str:
    """A local path to go to after logging in ('/' for anything else: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(char) < 32 for char in target):
        return "/"
    return target


def _without_token_url() -> str:
    """The current address with its ``token`` parameter left out."""
    kept = [(k, v) for k, values in request.args.lists() if k != TOKEN_QUERY for v in values]
    return request.path + (f"?{urlencode(kept)}" if kept else "")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">{head}
<title>AI Studio: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f5f6f8; color: #212529; margin: 0; }}
main {{ max-width: 26rem; margin: 12vh auto; background: #fff; padding: 2rem;
  border-radius: .75rem; box-shadow: 0 .25rem 1rem rgba(0,0,0,.08); }}
h1 {{ font-size: 1.4rem; margin-top: 0; }} p {{ line-height: 1.45; }}
input[type=password] {{ width: 100%; box-sizing: border-box; padding: .55rem; font-size: 1rem;
  border: 1px solid #ced4da; border-radius: .4rem; margin: .25rem 0 1rem; }}
button {{ padding: .55rem 1.2rem; font-size: 1rem; border: 0; border-radius: .4rem;
  background: #0d6efd; color: #fff; cursor: pointer; }}
.error {{ color: #b02a37; }}
code {{ background: #eef0f3; padding: 0 .25rem; border-radius: .2rem; }}
</style></head>
<body><main>{body}</main></body></html>
"""


def _page(title: str, body: str, head: str = "") -> str:
    return _PAGE.format(title=html.escape(title), body=body, head=head)


def login_page(next_path: str, error: str | None = None) -> str:
    """The login form (HTML): one token field, posted to ``/login``."""
    message = f'<p class="error">{html.escape(error)}</p>' if error else ""
    body = (
        "<h1>AI Studio</h1>"
        "<p>This server asks for its token. <code>aistudio serve</code> printed it at start, "
        "in the address it showed (<code>?token=…</code>).</p>"
        f"{message}"
        f'<form method="post" action="{LOGIN_PATH}">'
        '<label for="token">Token</label>'
        '<input type="password" id="token" name="token" autocomplete="current-password" '
        "autofocus required>"
        f'<input type="hidden" name="next" value="{html.escape(_safe_next(next_path))}">'
        '<button type="submit">Log in</button></form>'
    )
    return _page("log in", body)


def _refused(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


class _Guard:
    """The checks of :mod:`ui.security`, against the rules in the server's config."""

    @property
    def security(self) -> Security:
        """The rules of the server handling the current request."""
        security = current_app.config.get(CONFIG_KEY)
        return security if isinstance(security, Security) else Security()

    # ------------------------------------------------------------------ token
    def _matches(self, presented: str | None) -> bool:
        token = self.security.token
        if token is None or not presented:
            return False
        return hmac.compare_digest(presented.encode(), token.encode())

    def _header_or_cookie_token(self) -> str | None:
        header = request.headers.get(TOKEN_HEADER)
        if header:
            return header.strip()
        authorization = request.headers.get("Authorization", "")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() in ("bearer", "token") and value:
            return value.strip()
        return request.cookies.get(self.security.cookie_name)

    def set_cookie(self, response: Response) -> Response:
        """Keep the token in this server's HTTP-only, SameSite=Strict cookie."""
        response.set_cookie(
            self.security.cookie_name,
            self.security.token or "",
            max_age=COOKIE_MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.is_secure,
        )
        return response

    def _unauthorized(self) -> Response:
        wants_page = request.method in ("GET", "HEAD") and request.accept_mimetypes.accept_html
        if wants_page and not request.path.startswith(("/_dash-", "/media/", "/download/")):
            target = _without_token_url()
            response = Response(login_page(target), status=401, mimetype="text/html")
        else:
            response = _refused(401, "this AI Studio server asks for its token (see /login)")
        response.headers["WWW-Authenticate"] = 'Token realm="AI Studio"'
        response.headers["Cache-Control"] = "no-store"
        return response

    def _signed_in(self) -> Response:
        """The answer to a valid ``?token=``: the cookie, then the same page without the token.

        A same-origin refresh, not a redirect: after a link from another site a redirect still
        counts as cross-site, and the browser would not send the SameSite=Strict cookie with it.
        """
        target = html.escape(_without_token_url())
        body = f'<h1>AI Studio</h1><p>Logged in. <a href="{target}">Continue</a>.</p>'
        head = f'\n<meta http-equiv="refresh" content="0; url={target}">'
        response = Response(_page("logged in", body, head), status=200, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return self.set_cookie(response)

    # ------------------------------------------------------------------ the hook
    def before_request(self) -> Response | None:
        """Refuse the request (a response) or let it through (None)."""
        security = self.security
        if security.loopback_only and not is_loopback_host_header(request.headers.get("Host")):
            logger.warning("refused a request for Host %r", request.headers.get("Host"))
            return _refused(
                403,
                "this AI Studio server answers only to localhost, 127.0.0.1 or [::1] "
                "(other host names are refused: DNS rebinding)",
            )
        if request.method in STATE_CHANGING and not same_origin():
            logger.warning(
                "refused a %s %s from origin %r",
                request.method,
                request.path,
                request.headers.get("Origin") or request.headers.get("Referer"),
            )
            return _refused(403, "requests that change anything must come from the app's pages")
        if security.token is not None and request.path != LOGIN_PATH:
            refused = self._check_token()
            if refused is not None:
                return refused
        if request.path.startswith(SUITES_PREFIX) and bad_suite_path(request.path):
            return _refused(404, "not found")
        return None

    def _check_token(self) -> Response | None:
        if self._matches(self._header_or_cookie_token()):
            return None
        from_query = request.args.get(TOKEN_QUERY)
        if request.method in ("GET", "HEAD") and from_query is not None:
            if self._matches(from_query):
                return self._signed_in()
            logger.warning("a wrong token in the address from %s", request.remote_addr)
        return self._unauthorized()

    # ------------------------------------------------------------------ /login
    def login(self) -> Response:
        """``GET /login``: the form; ``POST /login``: check the token, set the cookie."""
        if self.security.token is None:
            return Response(status=303, headers={"Location": "/"})
        if request.method == "GET":
            next_path = request.args.get("next", "/")
            return Response(login_page(next_path), status=200, mimetype="text/html")
        next_path = _safe_next(request.form.get("next"))
        if not self._matches(request.form.get("token", "").strip()):
            logger.warning("a wrong token at /login from %s", request.remote_addr)
            page = login_page(next_path, "That is not this server's token.")
            return Response(page, status=401, mimetype="text/html")
        response = Response(status=303, headers={"Location": next_path})
        return self.set_cookie(response)


def _not_found(_error: Exception) -> Response:
    return _refused(404, "not found")


def install_security(server: Flask, security: Security) -> None:
    """Check every request to ``server`` against ``security`` (before anything else runs)."""
    server.config[CONFIG_KEY] = security
    if server.config.get(f"{CONFIG_KEY}_INSTALLED"):
        return  # the hooks are there already: only the rules changed
    server.config[f"{CONFIG_KEY}_INSTALLED"] = True
    guard = _Guard()
    # First of all before-request hooks, Dash's own included.
    server.before_request_funcs.setdefault(None, []).insert(0, guard.before_request)
    server.add_url_rule(LOGIN_PATH, "aistudio_login", guard.login, methods=["GET", "POST"])
    server.register_error_handler(DependencyException, _not_found)
