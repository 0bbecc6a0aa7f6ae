"""What a user may type for an env variable or a custom domain, checked before anything is sent.

One set of rules for the console's dialogs and the scriptable commands. Each ``*_problem`` function
answers the reason a value is refused (a sentence for a human), or None when it is fine.
"""

from __future__ import annotations

import re

import idna

ENV_KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_ENV_KEY_LENGTH = 256
MAX_ENV_VALUE_BYTES = 64 * 1024

MAX_DOMAIN_LENGTH = 253
MAX_LABEL_LENGTH = 63
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
# What a refused name is shown as: control characters (a pasted escape sequence) become '?'.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f]")


def _shown(text: str) -> str:
    return _UNPRINTABLE.sub("?", text)


def env_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid variable name, or None."""
    if not key:
        return "A name is required."
    if len(key) > MAX_ENV_KEY_LENGTH:
        return f"A name is at most {MAX_ENV_KEY_LENGTH} characters (this one has {len(key)})."
    if not ENV_KEY_PATTERN.fullmatch(key):
        return (
            f"{_shown(key)!r} is not a valid name: use letters, digits and _, "
            "not starting with a digit (like DATABASE_URL)."
        )
    return None


def env_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None. Newlines, tabs and any unicode are fine."""
    if "\x00" in value:
        return "A value cannot contain a NUL character."
    size = len(value.encode("utf-8"))
    if size > MAX_ENV_VALUE_BYTES:
        return f"A value is at most {MAX_ENV_VALUE_BYTES:,} bytes (this one has {size:,})."
    return None


def normalize_domain(name: str) -> str:
    return name.strip().rstrip(".").lower()


def ascii_domain(name: str) -> str:
    """The name as DNS and the API know it: internationalised labels in their IDNA (xn--) form."""
    return _to_ascii(normalize_domain(name))


def _to_ascii(name: str) -> str:
    """IDNA 2008 with the UTS 46 mapping (what registries and browsers use), not Python's IDNA 2003 codec,
    which takes an invalid A-label (``xn--zz``) or an emoji label as it is. Raises UnicodeError."""
    return idna.encode(name, uts46=True).decode("ascii")


def domain_problem(name: str) -> str | None:
    """Why ``name`` is not a usable domain name (IDNA, labels, length), or None."""
    name = normalize_domain(name)
    if not name:
        return "A domain name is required."
    if any(ch.isspace() for ch in name) or "/" in name or ":" in name:
        return "Type only the host name (like app.example.com), without scheme, port, path or spaces."
    if "" in name.split("."):
        return "Empty label: two dots in a row, or a leading dot."
    try:
        ascii_name = _to_ascii(name)
    except UnicodeError as exc:
        return f"Not a valid (internationalised) domain name: {_shown(str(exc))}."
    if len(ascii_name) > MAX_DOMAIN_LENGTH:
        return f"A domain name is at most {MAX_DOMAIN_LENGTH} characters (this one has {len(ascii_name)})."
    labels = ascii_name.split(".")
    if len(labels) < 2:
        return "A custom domain needs at least two labels (like example.com)."
    for label in labels:
        if len(label) > MAX_LABEL_LENGTH:
            return f"Label {label[:20]}… is longer than {MAX_LABEL_LENGTH} characters."
        if not _LABEL.fullmatch(label):
            return (
                f"Label {_shown(label)!r} may only hold letters, digits and inner hyphens "
                "(not starting or ending with '-')."
            )
    if labels[-1].isdigit():
        return "The last label cannot be all digits (an IP address is not a domain)."
    return None


MAX_PUBLISH_PATH_LENGTH = 1024


def publish_path_problem(value: str | None) -> str | None:
    """Why a publish's output path or entrypoint (a path inside the sandbox) cannot be sent, or None."""
    if value is None:
        return None
    if not value.strip():
        return "is empty"
    if _UNPRINTABLE.search(value):
        return f"holds a control character ({_shown(value)!r})"
    if len(value) > MAX_PUBLISH_PATH_LENGTH:
        return f"is longer than {MAX_PUBLISH_PATH_LENGTH} characters"
    if ".." in value.replace("\\", "/").split("/"):
        return f"must stay inside the sandbox (no '..'): {_shown(value)!r}"
    return None
