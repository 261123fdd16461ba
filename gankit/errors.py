"""Errors the command line reports as one line (exit code 2), importable from anywhere."""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration or usage error: reported as one line, exit code 2."""
