"""Secrets kept out of logs, Asset extras, the catalog and reports.

- :func:`redact_url`: a URL with the values of its credential-carrying query keys replaced (Flickr's
  ``api_key``, S3 presigned URLs' ``X-Amz-Signature``/``X-Amz-Credential``/``X-Amz-Security-Token``,
  OAuth ``access_token``...): what may be recorded of a URL that was used.
- :func:`secret`: declares a value obtained at run time (an API token) a secret, so every masker
  registered with :func:`register_masker` hides it; the Airflow adapter registers Airflow's secrets
  masker, which then blanks it in task logs, like the connections' passwords it already masks.
"""

from __future__ import annotations

from typing import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"
SECRET_QUERY_KEYS = frozenset({
    "api_key", "apikey", "key", "access_token", "token", "client_secret", "secret", "password", "sig", "signature",
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "awsaccesskeyid", "x-goog-signature",
    "x-goog-credential",
})
_maskers: list[Callable[[str], object]] = []


def redact_url(url: str) -> str:
    """``url`` with every secret query value (and a password in its authority) replaced by ``***``."""
    if not isinstance(url, str) or ("?" not in url and "@" not in url):
        return url
    try:
        parts = urlsplit(url)
        query = [(k, REDACTED if k.lower() in SECRET_QUERY_KEYS else v)
                 for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        netloc = parts.netloc
        if parts.password:
            netloc = netloc.replace(f":{parts.password}@", f":{REDACTED}@", 1)
        return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*/:"), parts.fragment))
    except ValueError:  # not a URL one can parse: nothing of it is kept
        return REDACTED


def register_masker(masker: Callable[[str], object]) -> None:
    if masker not in _maskers:
        _maskers.append(masker)


def secret(value: str) -> str:
    """Declare ``value`` a secret (every registered masker hides it from then on); returns it."""
    if value:
        for masker in _maskers:
            masker(value)
    return value
