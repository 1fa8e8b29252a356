"""Secrets: which environment variables the shell must not get, which files hold secrets, and
which values in a text are secrets.

A variable whose name looks like a credential is never passed to the shell. Secrets are known by
value (credential-named variables of the environment, the server's API key, credential-named keys
of the workspace's .env files) or found by their form: detect-secrets' plugins (cloud keys;
Stripe, GitHub, Slack and other tokens; JWTs; credential-named assignments, kept when their value
has a credential's entropy) and private-key blocks. The egress (agent/core/egress.py) replaces
them in every model-bound message.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import secrets as random
import threading
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Callable, Iterable, Iterator, Mapping

import platformdirs

from agent.errors import UsageError

# Anywhere in a name (GITHUB_TOKEN, DB_PASSWORD, OPENAI_API_KEY), or as a whole `_`-separated part
# (AWS_SECRET_ACCESS_KEY, SSH_AUTH_SOCK, NPM_PAT): so GIT_AUTHOR_NAME or KEYBOARD stay.
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|API_?KEY|PRIVATE"
    r"|(?:^|_)(?:KEY|KEYS|AUTH|PASS|PAT|DSN|COOKIE)(?:_|$)",
    re.IGNORECASE,
)
# detect-secrets' own private-key plugin names only the header line; the whole block is the secret.
PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)",
    re.DOTALL,
)
# A line of a .env file: optional `export`, a name, `=`, a value in optional quotes.
ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$")
# Shorter values (`1`, `true`, `dev`) are too common to redact without mangling unrelated output.
MIN_SECRET_CHARS = 6
# Keys that local model servers take and ignore (heron's default, llama.cpp's, vLLM's, Ollama's,
# LM Studio's): no secret, and redacting them would garble any text that holds them ("task-local1").
PLACEHOLDER_KEYS = frozenset({"sk-local", "sk-no-key-required", "EMPTY", "ollama", "lm-studio"})
# A credential-named assignment is a secret when its value looks like one: long enough, letters
# and digits, and this many bits of Shannon entropy a character (`hunter2` or `os.environ` are not).
MIN_ASSIGNED_CHARS = 8
MIN_ASSIGNED_ENTROPY = 3.0
# Plugins left out: the generic high-entropy ones would take every commit hash and checksum from
# the model, public IP addresses are not secrets, and private keys are matched whole above.
UNUSED_PLUGINS = ("Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector",
                  "PrivateKeyDetector", "KeywordDetector")
TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-.+/=]*")
# The plugins' patterns run over a text in pieces of whole lines about this long. A regex holds
# Python's lock for all of one call: over a 64K-token repo map, the slowest took 22 ms, and the
# TUI's screen waited on it (over 16 KB, 1.4 ms). No pattern spans lines, as detect-secrets runs
# them line by line.
PIECE_CHARS = 16_384


@dataclass(frozen=True)
class _Forms:
    """detect-secrets' patterns, loaded on first use: importing the library costs a tenth of a
    second that commands which send nothing to a model (`heron map`, the shell) need not pay."""

    detectors: tuple[re.Pattern[str], ...]  # the plugins' patterns of tokens and keys
    keyword: re.Pattern[str]  # lines naming a credential the way detect-secrets knows
    assignments: tuple[dict[re.Pattern[str], int], ...]  # in code (quoted), in config files
    keywords: Any  # the KeywordDetector
    entropy: Callable[[str], float]


@functools.cache
def _forms() -> _Forms:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString
    from detect_secrets.plugins.keyword import DENYLIST_REGEX, REGEX_BY_FILETYPE, KeywordDetector
    from detect_secrets.util.filetype import FileType

    return _Forms(
        detectors=tuple(
            regex
            for plugin in get_mapping_from_secret_type_to_class().values()
            if issubclass(plugin, RegexBasedDetector) and plugin.__name__ not in UNUSED_PLUGINS
            for regex in plugin().denylist
        ),
        keyword=re.compile(DENYLIST_REGEX, re.IGNORECASE),
        assignments=(REGEX_BY_FILETYPE[FileType.PYTHON], REGEX_BY_FILETYPE[FileType.YAML]),
        keywords=KeywordDetector(),
        entropy=Base64HighEntropyString(limit=MIN_ASSIGNED_ENTROPY).calculate_shannon_entropy,
    )


def load_forms() -> None:
    """Load detect-secrets' patterns now rather than at the first text scanned: a session does
    as it opens, before the TUI takes keys (the import holds Python's lock for most of 0.1 s)."""
    _forms()


# The ToolContext state key of the configured patterns (Config.secret_files).
DEFAULT_SECRET_FILES = (".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*", "id_dsa*",
                        "id_ecdsa*", "id_ed25519*", "credentials", "*credentials.json", ".netrc", "_netrc",
                        ".pgpass")


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def scrub_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment without credential-named variables."""
    return {k: v for k, v in env.items() if not is_secret_name(k)}


def is_secret_file(path: str | PurePath, patterns: Iterable[str] = DEFAULT_SECRET_FILES) -> bool:
    """The file's name matches a secret-file pattern: it is named to the model, never read into
    the map or search results."""
    name = path.rpartition("/")[2] if isinstance(path, str) else path.name
    return _secret_file_pattern(tuple(patterns)).match(name) is not None


@functools.lru_cache(maxsize=16)
def _secret_file_pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """The patterns as one regex: a map asks of every file, 180,000 in a large tree."""
    return re.compile("|".join(fnmatch.translate(pattern) for pattern in patterns) or "(?!)")


def env_file_secrets(text: str) -> set[str]:
    """Values of credential-named keys in a .env file's text."""
    values = set()
    for line in text.splitlines():
        match = ENV_LINE.match(line)
        if match and is_secret_name(match.group(1)):
            values.add(match.group(2).strip("'\""))
    return values


def found_by_form(text: str) -> set[str]:
    """The secrets in `text` found by their form, whatever their name or origin."""
    forms = _forms()
    values = {m.group(0) for m in PRIVATE_KEY_BLOCK.finditer(text)}
    for piece in _pieces(text):
        for regex in forms.detectors:
            values.update(_secret_part(m, piece) for m in regex.finditer(piece))
    for line in text.splitlines():
        if forms.keyword.search(line):
            for assignment in forms.assignments:
                values.update(v for v in forms.keywords.analyze_string(line, assignment) if _looks_random(v))
        match = ENV_LINE.match(line)
        if match and is_secret_name(match.group(1)):
            value = match.group(2).strip("'\"")
            if _looks_random(value):
                values.add(value)
    return {v for v in values if len(v) >= MIN_SECRET_CHARS}


def _pieces(text: str) -> Iterator[str]:
    """The text in pieces of whole lines, each PIECE_CHARS long or a line longer."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + PIECE_CHARS)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _secret_part(match: re.Match[str], text: str) -> str:
    """A plugin's pattern may capture the secret (`aws ... key = "(…)"`): the longest group, when
    it is long enough to be the secret. Else the whole match, to the end of the token, as some
    patterns stop short of it (a JWT's signature, a Stripe key longer than the plugin knows)."""
    longest = max((g for g in match.groups() if g), key=len, default="")
    if len(longest) >= MIN_SECRET_CHARS:
        return longest
    tail = TOKEN_TAIL.match(text, match.end())
    return (match.group(0) + (tail.group(0) if tail else "")).rstrip(".")


def _looks_random(value: str) -> bool:
    return (len(value) >= MIN_ASSIGNED_CHARS and not any(c.isspace() for c in value)
            and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
            and _forms().entropy(value) >= MIN_ASSIGNED_ENTROPY)


@dataclass(frozen=True)
class KnownSecrets:
    """Secret values known by name: the environment's, and those of the workspace's .env files."""

    workspace: Path | None
    env_values: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, workspace: Path | None, env: Mapping[str, str]) -> "KnownSecrets":
        return cls(workspace, frozenset(v for k, v in env.items() if is_secret_name(k)))

    def values(self) -> set[str]:
        """The environment's secrets plus those in the workspace's .env files as they are now."""
        values = set(self.env_values)
        for path in self.workspace.glob(".env*") if self.workspace else ():
            try:
                values |= env_file_secrets(path.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                continue
        return {v for v in values if len(v) >= MIN_SECRET_CHARS and v not in PLACEHOLDER_KEYS}


def placeholder_key() -> bytes:
    """This user's key for placeholders, made on first use: the same secret gets the same
    placeholder in every session (so a resumed one sends the same bytes), and a placeholder
    reveals nothing of the value to anyone without the key."""
    path = platformdirs.user_state_path("heron") / "placeholder.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Per process and thread: `fix --batch` starts sessions side by side in one process.
        draft = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(random.token_hex(32) + "\n")
        try:
            os.link(draft, path)  # atomic: of two sessions starting at once, one key wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read heron's placeholder key {path} ({e}); delete it to make a new one") from None
