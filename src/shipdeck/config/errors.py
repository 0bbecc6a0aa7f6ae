"""Errors of the config layer. Each carries the exit code the command line ends with."""

from __future__ import annotations


class ConfigError(Exception):
    """The config file (or a command-line choice of profile) cannot be used. Exit code 2 (usage)."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TokenError(ConfigError):
    """No usable token for a profile: unset variable, failing command, unsafe file. Exit code 3 (auth)."""

    exit_code = 3
