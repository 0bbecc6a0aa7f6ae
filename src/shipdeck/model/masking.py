"""What of a decoded JSON body is a secret, and the body with those masked: one rule for the console's raw
view and the CLI's ``--json``.

The APIs never return an env value, only a masked ``preview`` (that rule is the server's), except where an
object carries its build configuration (Mixpeek's ``build_config.env_vars``: NAME -> value). Masked here,
whatever their length, as ``****``:

* the values of an env map (a field named ``env``, ``env_vars``, ``environment_variables``, ...: every
  string in it), and an env var's ``value`` (``{"key"|"name": ..., "value": ...}``);
* with ``names`` (the raw view), any field whose name says it holds a secret: token, secret, password,
  api key, credential, authorization, private key. The CLI leaves those alone: its ``--json`` is the
  scriptable output, and a DNS verification token there is what the user asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MASK = "****"
# What an env var's fully masked preview ('*****', one star per character) is shown as, by the console and
# the CLI (table and --json): always the same width, so the mask does not tell how long the value is.
HIDDEN = "********"
# Field names that hold a secret (matched on the name lowercased, with '-' as '_').
SECRET_NAME = re.compile(
    r"(^|_)(token|secret|password|passwd|api_?key|credential|credentials|authorization|private_?key|"
    r"client_secret|access_key|signing_key|webhook_secret)s?($|_)"
)
# Fields that map env var names to their values.
ENV_MAP_NAME = re.compile(r"^(envs?|env_?vars?|env_?variables|environment_?variables|build_?env)$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _normal(name: str) -> str:
    return _CAMEL.sub("_", name).lower().replace("-", "_")


# The record types a custom domain's DNS instructions use (a record is {"type", "name", "value"}).
DNS_RECORD_TYPES = frozenset({"A", "AAAA", "ALIAS", "ANAME", "CAA", "CNAME", "MX", "NS", "SRV", "TXT"})


def _dns_record(value: dict[Any, Any]) -> bool:
    kind = value.get("type")
    return isinstance(kind, str) and kind.upper() in DNS_RECORD_TYPES


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(_normal(name)))


def mask_secrets(value: Any, redact: Callable[[str], str] | None = None, *, names: bool = True) -> Any:
    """A copy of a decoded JSON body with every secret masked (see the module's docstring); ``redact``
    also masks a known secret (the profile's token) wherever it appears in a string."""
    if isinstance(value, dict):
        # An env var ({"key"|"name": ..., "value": ...}): its value is a secret whatever it is called. Not
        # a DNS record ({"type": "TXT", "name": ..., "value": ...}): the record a domain needs is what
        # `domains --json` is asked for, and it went out as "****".
        env_shaped = "value" in value and ("key" in value or "name" in value) and not _dns_record(value)
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if ENV_MAP_NAME.match(_normal(name)) and isinstance(item, dict):
                out[name] = {k: MASK if isinstance(v, str) and v else mask_secrets(v, redact, names=names)
                             for k, v in item.items()}  # fmt: skip
                continue
            secret = (names and is_secret_name(name)) or (env_shaped and name == "value")
            out[name] = MASK if secret and item not in (None, "") else mask_secrets(item, redact, names=names)
        return out
    if isinstance(value, list):
        return [mask_secrets(item, redact, names=names) for item in value]
    if isinstance(value, str) and redact is not None:
        return redact(value)
    return value


def shown_preview(preview: str) -> str:
    """The API's masked preview of an env value as shown: a preview of stars only becomes HIDDEN (its
    length was the value's: a 1-character value showed as '*'); a partial preview ('sk_...9f2') is kept,
    it does not tell the length."""
    if preview and set(preview) <= {"*", "•"}:
        return HIDDEN
    return preview
