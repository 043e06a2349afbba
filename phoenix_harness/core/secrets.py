"""Mask secrets (tokens, passwords, auth headers) in anything written to a report or a log."""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
_SECRET_KEYS = re.compile(r"(?i)(authorization|api[-_]?key|token|password|passwd|secret|bearer|x-[a-z-]*key)")
_INLINE = re.compile(
    r"""(?ix)
    ( (?:authorization|api[-_]?key|[a-z_-]*token|password|passwd|secret|x-[a-z-]*key) ["']?\s*[:=]\s*["']? )
    ( (?:bearer\s+|basic\s+)?[^\s"',}]+ )
    """
)
_URL_CREDS = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/\s@]+:)([^@\s/]+)(@)")


def mask(text: str) -> str:
    text = _URL_CREDS.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    return _INLINE.sub(lambda m: m.group(1) + MASK, text)


def mask_config(value: Any) -> Any:
    """Return a copy of a parsed config with values under secret-looking keys masked."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            secret_key = isinstance(k, str) and bool(_SECRET_KEYS.search(k))
            if secret_key and not isinstance(v, (dict, list)):
                out[k] = MASK
            elif secret_key and isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v):
                out[k] = [MASK for _ in v]
            else:
                out[k] = mask_config(v)
        return out
    if isinstance(value, list):
        return [mask_config(v) for v in value]
    if isinstance(value, str):
        return mask(value)
    return value
