"""How a task's arguments and result travel: the payload convention every stalk SDK shares
(written in ``proto/stalk/v1/tasks.proto``, above ``message TaskSpec``).

- no arguments: an empty payload;
- positional arguments only: a JSON array, ``[2, 3]``;
- keyword arguments only: a JSON object of them, ``{"to": "ada@example.com"}``;
- both (or keyword arguments named ``args`` or ``kwargs``):
  ``{"args": [2], "kwargs": {"to": "ada@example.com"}}``.

A worker reads them back the same way; any other JSON value is one positional argument. A
result is the JSON of the return value.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

JSON = "application/json"

_EXPLICIT = frozenset({"args", "kwargs"})


def encode_args(args: Sequence[Any] = (), kwargs: Optional[Mapping[str, Any]] = None) -> bytes:
    """The payload for these arguments (see the module's rules)."""
    kwargs = dict(kwargs or {})
    if not args and not kwargs:
        return b""
    if not kwargs:
        return _dumps(list(args))
    if not args and not (kwargs.keys() & _EXPLICIT):
        return _dumps(kwargs)
    return _dumps({"args": list(args), "kwargs": kwargs})


def explicit_args(args: Sequence[Any] = (), kwargs: Optional[Mapping[str, Any]] = None) -> bytes:
    """The payload for a workflow step: keyword arguments always in the ``args``/``kwargs``
    form, so the broker can put the results before them as the first positional argument."""
    if kwargs:
        return _dumps({"args": list(args), "kwargs": dict(kwargs)})
    return encode_args(args)


def decode_args(payload: bytes) -> Tuple[List[Any], Dict[str, Any]]:
    """The positional and keyword arguments a payload carries (see the module's rules).

    Raises ``ValueError`` for a payload that is not JSON.
    """
    if not payload.strip():
        return [], {}
    value = json.loads(payload)
    if isinstance(value, list):
        return value, {}
    if isinstance(value, dict):
        keys = set(value)
        if keys and keys <= _EXPLICIT:
            args = value.get("args", [])
            kwargs = value.get("kwargs", {})
            if isinstance(args, list) and isinstance(kwargs, dict):
                return args, kwargs
        return [], value
    return [value], {}


def encode_result(value: Any) -> bytes:
    """A return value as the JSON the broker keeps."""
    return _dumps(value)


def decode_result(value: bytes) -> Any:
    """A result back from its JSON; an empty result is ``None``."""
    if not value.strip():
        return None
    return json.loads(value)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
