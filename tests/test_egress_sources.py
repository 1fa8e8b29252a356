"""No secret reaches the model, whatever source carries it: a different secret is planted in each
source of agent.core.egress.Source, heron runs end to end (fix, fix --batch, review) against the
scripted server, and no request body it received holds a planted value, while each value's
placeholder shows the source did reach the model. A new Source fails here until it is planted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
from pathlib import Path

import pytest

from agent.core.egress import Source
from tests.conftest import make_repo, run_heron, write_files
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply

KEY = bytes(range(32))
AWS = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SETTINGS = f'DEBUG = False\nAWS_SECRET_ACCESS_KEY = "{AWS}"\nREGION = "eu-west-1"\n'
ENV_FILE_VALUE = "sk_live_EnvFile0123456789abcdef"

# One planted secret (or more) per source; keep it in step with Source.
PLANTED: dict[Source, tuple[str, ...]] = {
    Source.SYSTEM_PROMPT: ("Zq7WkP3xR9mT2vLb",),  # in the workspace's path, known from the environment
    Source.PROJECT_RULES: ("ghp_Rules0123456789abcdefghijABCDEFGHIJKL",),
    Source.REPO_MAP: ("sk_live_MapOnly0123456789abcdefgh",),
    Source.TOOL_RESULT: (AWS, "Xy9kLm2pQ8vRt4Wn"),
    Source.USER_TEXT: ("xoxb-123456789012-1234567890123-UserTextToken42",),
    Source.COMPACTION: ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjb21wYWN0aW9uIn0.c2lnbmF0dXJlLWNvbXBhY3Q",),
    Source.COMMIT_REQUEST: ("AKIAQWERTYUIOPASDF12",),
    Source.REVIEW_DIFF: ("rk_live_Review0123456789abcdefgh",),
    Source.BATCH_ISSUE: ("gho_Batch0123456789abcdefghijABCDEFGHIJKLM",),
}


def placeholder(value: str) -> str:
    return f"[secret:{hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()[:8]}]"


def state_home(tmp_path: Path) -> Path:
    """heron's state directory with a known placeholder key, so the test can name placeholders."""
    state = tmp_path / "state"
    (state / "heron").mkdir(parents=True)
    (state / "heron" / "placeholder.key").write_text(KEY.hex() + "\n")
    return state


def fix_repo(tmp_path: Path) -> Path:
    repo = tmp_path / f"work-{PLANTED[Source.SYSTEM_PROMPT][0]}"
    make_repo(repo, {
        "AGENTS.md": f"Deploy with the bot token {PLANTED[Source.PROJECT_RULES][0]} only.\n",
        "billing.py": f'STRIPE_KEY = "{PLANTED[Source.REPO_MAP][0]}"\n\n\ndef charge(cents):\n    return cents\n',
        "settings.py": SETTINGS,
        "config/prod.yaml": f'db_password: "{PLANTED[Source.TOOL_RESULT][1]}"\n',
    })
    (repo / ".env").write_text(f"STRIPE_SECRET_KEY={ENV_FILE_VALUE}\n")  # untracked
    return repo


def summary(text: str = "Read the settings.") -> Reply:
    return Reply(text=text)


def test_every_source_has_a_planted_secret() -> None:
    assert set(PLANTED) == set(Source)
    values = [v for vs in PLANTED.values() for v in vs]
    assert len(values) == len(set(values))


@pytest.fixture
def bodies(tmp_path: Path, home: Path, fake_server: FakeOpenAIServer) -> list[str]:
    """Every request body heron sent in a fix (with compaction and a commit), a batch and a review."""
    state = state_home(tmp_path)
    env = {"XDG_STATE_HOME": str(state), "DEPLOY_TOKEN": PLANTED[Source.SYSTEM_PROMPT][0]}
    repo = fix_repo(tmp_path)
    made = base64.b64encode(f"AWS_ACCESS_KEY_ID={PLANTED[Source.COMMIT_REQUEST][0]}\n".encode()).decode()
    fake_server.script(
        tool_reply(call("read_file", path="settings.py")),
        # The server finds the next request too long: heron compacts, and the model summarizes.
        Reply(error=(400, "the request exceeds the available context size")),
        summary(f"Read the settings; the session token is {PLANTED[Source.COMPACTION][0]}."),
        tool_reply(call("shell", command=f"cat config/prod.yaml && echo {made} | base64 -d > deploy.env.txt")),
        tool_reply(call("finish", summary="wrote the deploy file")),
        Reply(text="chore: add the deploy file"),  # the commit message
    )
    issue = f"Add a deploy file; the bot uses {PLANTED[Source.USER_TEXT][0]}."
    result = run_heron(["fix", issue, "--repo", str(repo), "--base-url", fake_server.base_url, "--yes",
                        "--commit"], home, **env)
    assert result.returncode == 0, result.stderr
    assert PLANTED[Source.COMMIT_REQUEST][0] in (repo / "deploy.env.txt").read_text()

    batch_repo = tmp_path / "batch"
    make_repo(batch_repo, {"app.py": "print('hi')\n"})
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": "a", "issue": f"CI fails with {PLANTED[Source.BATCH_ISSUE][0]}"}) + "\n")
    fake_server.script(tool_reply(call("finish", summary="nothing to do")))
    result = run_heron(["fix", "--batch", str(tasks), "--out", str(tmp_path / "out.jsonl"), "--repo",
                        str(batch_repo), "--base-url", fake_server.base_url, "--workers", "1"], home, **env)
    assert result.returncode in (0, 1), result.stderr

    review_repo = tmp_path / "review"
    make_repo(review_repo, {"pay.py": "def pay():\n    return 1\n"})
    write_files(review_repo, {"pay.py": f'KEY = "{PLANTED[Source.REVIEW_DIFF][0]}"\n\n\ndef pay():\n    return 1\n'})
    subprocess.run(["git", "add", "-A"], cwd=review_repo, check=True)
    fake_server.script(tool_reply(call("finish", summary="reviewed")))
    result = run_heron(["review", "--staged", "--repo", str(review_repo), "--base-url", fake_server.base_url],
                       home, **env)
    assert result.returncode == 0, result.stderr
    return [json.dumps(body, ensure_ascii=False) for body in fake_server.chat_requests]


@pytest.mark.timeout(300)
def test_no_planted_secret_is_sent_and_each_source_reached_the_model(bodies: list[str]) -> None:
    sent = "\n".join(bodies)
    for source, values in PLANTED.items():
        for value in values:
            assert value not in sent, f"{source.value}: {value} was sent"
            assert placeholder(value) in sent, f"{source.value}: never reached the model"
    # The untracked .env is named in the map, its value neither sent nor replaced in it.
    assert ENV_FILE_VALUE not in sent and ".env" in bodies[0]


def test_a_file_read_and_written_back_whole_keeps_its_secret(tmp_path: Path, home: Path,
                                                            fake_server: FakeOpenAIServer) -> None:
    repo = tmp_path / "app"
    make_repo(repo, {"settings.py": SETTINGS})
    changed = SETTINGS.replace(AWS, placeholder(AWS)).replace("DEBUG = False", "DEBUG = True")
    fake_server.script(
        tool_reply(call("read_file", path="settings.py")),
        tool_reply(call("write_file", path="settings.py", content=changed)),
        tool_reply(call("shell", command="cat settings.py")),
        tool_reply(call("finish", summary="debug on")),
    )
    result = run_heron(["fix", "turn debug on", "--repo", str(repo), "--base-url", fake_server.base_url, "--yes"],
                       home, XDG_STATE_HOME=str(state_home(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert (repo / "settings.py").read_text() == SETTINGS.replace("DEBUG = False", "DEBUG = True")
    requests = fake_server.chat_requests
    assert all(AWS not in json.dumps(body) for body in requests)
    assert placeholder(AWS) in requests[1]["messages"][-1]["content"]  # what read_file showed
    # With redaction on, each request is still a prefix of the next: the server's cache holds.
    for before, after in zip(requests, requests[1:]):
        assert after["messages"][:len(before["messages"])] == before["messages"]
        assert after["tools"] == before["tools"]
