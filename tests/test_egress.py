"""The one door out: secrets are found by name and by form, replaced by stable placeholders in
every model-bound request, and put back in tool arguments on the way in."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from agent.core.dispatch import Dispatcher, deny_all
from agent.core.egress import Egress
from agent.core.policy import Policy
from agent.events import Event, ToolStarted
from agent.model.client import ToolCall
from agent.sandbox.bubblewrap import Sandbox
from agent.secrets import PIECE_CHARS, KnownSecrets, found_by_form, is_secret_file
from tools.base import ShellSettings, ToolContext
from tools.files import read_file, write_file
from tools.shell import shell

KEY = b"k" * 32
AWS = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
GITHUB = "ghp_1234567890abcdefghijABCDEFGHIJ123456"
SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
       ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA75\n-----END RSA PRIVATE KEY-----"
ASSIGNED = "q8Zr2mVx7LpK4sW9"


def egress(known: set[str] = frozenset(), key: bytes = KEY) -> Egress:
    return Egress(lambda: known, key)


def test_secrets_are_found_by_their_form_and_ordinary_text_is_kept() -> None:
    text = "\n".join([
        f'AWS_SECRET_ACCESS_KEY = "{AWS}"', f"stripe: {STRIPE}", f"token {GITHUB}", SLACK, JWT, PEM,
        f'DEPLOY_TOKEN = "{ASSIGNED}"',
        # Not secrets: a commit hash, a weak example password, a value read from elsewhere.
        "commit 3f786850e387550fdab836ed7e6dc881de23001b", 'password = "hunter2"',
        'password = os.environ["DB_PASSWORD"]',
    ])
    assert found_by_form(text) == {AWS, STRIPE, GITHUB, SLACK, JWT, PEM, ASSIGNED}


def test_secrets_in_a_long_text_are_found_wherever_its_pieces_are_cut() -> None:
    # Scanned in pieces of whole lines (secrets.PIECE_CHARS): each secret's line here starts a
    # few characters before a multiple of the piece size, so it crosses where a piece would end.
    lines = [f'AWS_SECRET_ACCESS_KEY = "{AWS}"', f"stripe: {STRIPE}", f"token {GITHUB}", SLACK, JWT,
             f'DEPLOY_TOKEN = "{ASSIGNED}"']
    text = ""
    filler = "def ordinary_function(value): return value  # nothing here\n"
    for n, line in enumerate(lines, start=1):
        starts_at = n * PIECE_CHARS - 7
        text += filler * ((starts_at - len(text)) // len(filler))
        text += "#" * (starts_at - len(text) - 1) + "\n" + line + "\n"
    assert found_by_form(text) == {AWS, STRIPE, GITHUB, SLACK, JWT, ASSIGNED}


def test_every_text_of_a_request_is_redacted_and_the_protocol_is_left_alone() -> None:
    door = egress({"env-secret-123"})
    messages = [
        {"role": "system", "content": "you work in /home/env-secret-123/repo"},
        {"role": "user", "content": f"deploy with {STRIPE}"},
        {"role": "assistant", "content": "", "reasoning_content": f"the key is {STRIPE}",
         "tool_calls": [{"id": "c1", "type": "function",
                         "function": {"name": "read_file", "arguments": json.dumps({"path": "settings.py"})}}]},
        {"role": "tool", "tool_call_id": "c1", "content": f'AWS_SECRET_ACCESS_KEY = "{AWS}"\nDEBUG = True'},
    ]
    tools = [{"type": "function", "function": {"name": "shell", "description": "runs env-secret-123"}}]
    sent, sent_tools = door(messages, tools)
    body = json.dumps([sent, sent_tools])
    for secret in ("env-secret-123", STRIPE, AWS):
        assert secret not in body
    placeholder = door.placeholders[AWS]
    assert sent[3] == {"role": "tool", "tool_call_id": "c1",
                       "content": f'AWS_SECRET_ACCESS_KEY = "{placeholder}"\nDEBUG = True'}
    assert sent[2]["tool_calls"][0]["function"]["name"] == "read_file"
    assert messages[3]["content"].startswith(f'AWS_SECRET_ACCESS_KEY = "{AWS}"')  # history keeps the value


def test_an_images_bytes_pass_untouched_and_its_caption_is_redacted() -> None:
    door = egress(set())
    # base64 of random bytes holds runs a secret scanner could take for keys; an image is not text.
    url = "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 8).decode() + STRIPE
    message = {"role": "user", "content": [{"type": "text", "text": f"shot of {STRIPE}"},
                                           {"type": "image_url", "image_url": {"url": url}}]}
    [sent], _ = door([message], [])
    assert sent["content"][1] == message["content"][1]
    assert STRIPE not in sent["content"][0]["text"]


def test_a_secret_found_once_is_redacted_wherever_it_appears_later() -> None:
    door = egress()
    first = [{"role": "tool", "tool_call_id": "1", "content": f'API_KEY = "{ASSIGNED}"'}]
    door(first, [])
    # Bare, without the assignment that made it recognisable.
    sent, _ = door([*first, {"role": "tool", "tool_call_id": "2", "content": f"echo: {ASSIGNED}"}], [])
    assert sent[1]["content"] == f"echo: {door.placeholders[ASSIGNED]}"


def test_placeholders_are_stable_across_sessions_with_one_key_and_differ_across_keys() -> None:
    message = [{"role": "user", "content": f"use {STRIPE}"}]
    same = [egress()(message, [])[0] for _ in range(2)]
    other, _ = egress(key=b"o" * 32)(message, [])
    assert same[0] == same[1] and same[0] != other
    assert STRIPE not in json.dumps(other)


def test_each_request_is_a_prefix_of_the_next_with_redaction_on() -> None:
    door = egress({"env-secret-123"})
    history: list[dict] = [{"role": "system", "content": "rules"}]
    sent_before: list[dict] = []
    for n, secret in enumerate([STRIPE, AWS, GITHUB, "env-secret-123"]):
        history.append({"role": "user", "content": f"turn {n}: {secret}"})
        history.append({"role": "tool", "tool_call_id": str(n), "content": f'API_KEY = "{ASSIGNED}{n}"'})
        sent, _ = door(history, [])
        assert sent[:len(sent_before)] == sent_before
        assert json.dumps(sent).startswith(json.dumps(sent_before)[:-1])
        sent_before = sent


def test_restore_puts_the_secrets_back_in_arguments_and_leaves_unknown_placeholders() -> None:
    door = egress()
    sent, _ = door([{"role": "tool", "tool_call_id": "1", "content": f'KEY = "{STRIPE}"'}], [])
    placeholder = door.placeholders[STRIPE]
    arguments = {"path": "a.py", "content": f'KEY = "{placeholder}"\n', "list": [placeholder, 3],
                 "other": "[secret:00000000]"}
    assert door.restore(arguments) == {"path": "a.py", "content": f'KEY = "{STRIPE}"\n', "list": [STRIPE, 3],
                                       "other": "[secret:00000000]"}


def test_known_secrets_come_from_the_environment_and_the_env_files(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DEBUG=true\nexport DB_PASSWORD='hunter2hunter2'\n")
    (tmp_path / ".env.local").write_text("STRIPE_SECRET_KEY=sk_test_abcdef\n")
    known = KnownSecrets.from_env(tmp_path, {"OPENAI_API_KEY": "sk-live-0123456789", "HOME": "/home/me"})
    assert known.values() == {"hunter2hunter2", "sk_test_abcdef", "sk-live-0123456789"}


def test_the_keys_local_servers_ignore_are_no_secrets_and_text_holding_them_is_kept() -> None:
    env = {"HERON_API_KEY": "sk-local", "OPENAI_API_KEY": "sk-no-key-required", "VLLM_API_KEY": "EMPTY"}
    known = KnownSecrets.from_env(None, env)
    assert known.values() == set()
    egress = Egress(known.values, b"k" * 32)
    assert egress.text("task-local1-000: check the ledger") == "task-local1-000: check the ledger"


def test_secret_files_are_known_by_their_names() -> None:
    for name in (".env", ".env.production", "certs/server.pem", "tls.key", "id_rsa", "id_ed25519.pub",
                 ".aws/credentials", "gcp-credentials.json", ".netrc"):
        assert is_secret_file(name), name
    for name in ("env.py", "keys.py", "credentials.py", "README.md", "monkey.txt"):
        assert not is_secret_file(name), name


def test_tool_outputs_are_raw_until_the_egress_and_arguments_are_restored_before_the_tool_runs(
        sandbox: Sandbox) -> None:
    ws = sandbox.workspace
    (ws / ".env").write_text("DEBUG=true\nexport DB_PASSWORD='hunter2hunter2'\n")
    (ws / "settings.py").write_text(f"KEY = '{STRIPE}'\n")
    (ws / "id_rsa").write_text(PEM + "\n")
    ctx = ToolContext(ws, shell=ShellSettings(sandbox=sandbox))
    door = Egress(KnownSecrets.from_env(ws, {"OPENAI_API_KEY": "sk-live-0123456789"}).values, KEY)
    events: list[Event] = []
    dispatcher = Dispatcher((shell, read_file, write_file), Policy(mode="full-auto"), deny_all, ctx,
                            restore=door.restore)
    try:
        out = dispatcher.call(ToolCall("1", "shell", json.dumps({"command": "cat .env settings.py id_rsa"})),
                              events.append).output
        sent, _ = door([{"role": "tool", "tool_call_id": "1", "content": out}], [])
        placeholder = door.placeholders[STRIPE]
        written = json.dumps({"path": "copy.py", "content": f"KEY = '{placeholder}'\n"})
        dispatcher.call(ToolCall("2", "write_file", written), events.append)
    finally:
        ctx.close()
    assert "hunter2hunter2" in out  # the tool's output itself is not touched
    text = sent[0]["content"]
    assert "hunter2" not in text and STRIPE not in text and "MIIEpAIBAAKCAQEA75" not in text
    assert "DEBUG=true" in text and f"DB_PASSWORD='{door.placeholders['hunter2hunter2']}'" in text
    assert (ws / "copy.py").read_text() == f"KEY = '{STRIPE}'\n"
    started = [e for e in events if isinstance(e, ToolStarted)]
    assert started[-1].arguments["content"] == f"KEY = '{STRIPE}'\n"
