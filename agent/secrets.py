"""Secrets: which environment variables the shell must not get, and redacting values from output.

A variable whose name looks like a credential is never passed to the shell. Its value, and the
values of credential-named keys in the workspace's .env files, and any private-key block, are
replaced by a placeholder in every tool output before the model sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

# Anywhere in a name (GITHUB_TOKEN, DB_PASSWORD, OPENAI_API_KEY), or as a whole `_`-separated part
# (AWS_SECRET_ACCESS_KEY, SSH_AUTH_SOCK, NPM_PAT): so GIT_AUTHOR_NAME or KEYBOARD stay.
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|API_?KEY|PRIVATE"
    r"|(?:^|_)(?:KEY|KEYS|AUTH|PASS|PAT|DSN|COOKIE)(?:_|$)",
    re.IGNORECASE,
)
PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL
)
# A line of a .env file: optional `export`, a name, `=`, a value in optional quotes.
ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$")
# Shorter values (`1`, `true`, `dev`) are too common to redact without mangling unrelated output.
MIN_SECRET_CHARS = 6
PLACEHOLDER = "[redacted]"


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def scrub_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment without credential-named variables."""
    return {k: v for k, v in env.items() if not is_secret_name(k)}


def env_file_secrets(text: str) -> set[str]:
    """Values of credential-named keys in a .env file's text."""
    values = set()
    for line in text.splitlines():
        match = ENV_LINE.match(line)
        if match and is_secret_name(match.group(1)):
            values.add(match.group(2).strip("'\""))
    return values


@dataclass(frozen=True)
class Redactor:
    """Replaces known secret values (from the environment and .env files) in text."""

    workspace: Path
    env_values: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, workspace: Path, env: Mapping[str, str]) -> "Redactor":
        return cls(workspace, frozenset(v for k, v in env.items() if is_secret_name(k)))

    def secrets(self) -> set[str]:
        """The environment's secrets plus those in the workspace's .env files as they are now."""
        values = set(self.env_values)
        for path in self.workspace.glob(".env*"):
            try:
                values |= env_file_secrets(path.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                continue
        return {v for v in values if len(v) >= MIN_SECRET_CHARS}

    def __call__(self, text: str) -> str:
        text = PRIVATE_KEY_BLOCK.sub(PLACEHOLDER, text)
        # Longest first, so a secret that contains another is replaced whole.
        for value in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(value, PLACEHOLDER)
        return text
