"""Secrets out of anything printed or stored: URLs, server answers, error messages.

One place for the rules, used by every HTTP client (``generation.HttpGenerator``, ``synth``'s engine,
``annotate/live.py``):

- a URL keeps scheme, host, port and path; ``user:password@`` becomes ``***@`` and every query value
  becomes ``***`` (``?api_key=sk-1`` -> ``?api_key=***``): either may hold a key;
- a server body or message also loses ``Authorization``-style values (``Bearer ...``, ``Token ...``,
  ``Basic ...``), ``key=value`` pairs whose name says key/token/secret/password, and every secret the
  caller names (the API key actually sent, which a server may echo back in any shape).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_AUTH = re.compile(r"\b(Bearer|Token|Basic)(\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_NAME = r"[A-Za-z0-9_-]*(?:key|token|secret|password|passwd|auth|signature|sig)[A-Za-z0-9_-]*"
_PAIR = re.compile(rf"(\b{_NAME}\b[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}}]+)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` without secrets: userinfo -> ``***@``, every query value -> ``***``, fragment dropped."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK) for k, _ in pairs], safe="*") if pairs else MASK
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` (a message or a server body) with URLs, auth values, key=value secrets and ``secrets`` masked."""
    text = str(text)
    for secret in secrets:
        if secret and len(secret) >= 4:  # a 1-3 character "secret" would mask ordinary words
            text = text.replace(secret, MASK)
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    text = _AUTH.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _PAIR.sub(lambda m: m.group(1) + MASK, text)


def has_userinfo(url: str) -> bool:
    """True when ``url`` carries ``user[:password]@`` (sent as Basic auth by most clients)."""
    try:
        return "@" in urlsplit(url).netloc
    except ValueError:
        return False


def join_path(url: str, suffix: str) -> str:
    """``url`` with ``suffix`` appended to its path, before any query (``http://h/v1?x=1`` + ``/models``).

    A query in ``suffix`` (``/api/export?exportType=JSON``) joins the URL's own.
    """
    parts = urlsplit(url)
    path, _, query = suffix.partition("?")
    query = "&".join(q for q in (parts.query, query) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path, query, parts.fragment))
