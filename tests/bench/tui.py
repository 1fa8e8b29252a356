"""Keystroke-to-screen latency and CPU of the real `heron` in tmux while it streams.

The model streams at about 200 tokens per second (one 4-character chunk every 5 ms from the fake
server) while keys are typed into the input box; each key's latency is the time from tmux
send-keys until tmux's copy of the screen shows it. Two runs side by side: the anchor, a fresh
session, and the same app after 1,000 messages (500 model turns, each an answer and a tool panel).
CPU is the heron process's user+system time over the streaming window.

    python tests/bench/tui.py [--keys N]

With --repo DIR it measures instead the keys typed while the first turn's repo map of DIR is
built (a cold cache, then a new session over the warm one), until the model's answer shows.

    python tests/bench/tui.py --repo tests/bench/.work/bigtree --keys 2000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.conftest import HERON, heron_env, make_repo  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply  # noqa: E402
from tests.tmux_support import TmuxApp  # noqa: E402

TOKENS_PER_SECOND = 200
STREAM_TOKENS = 4000  # 20 s of streaming: longer than the keys take
PREFILL_TURNS = 500
TYPED = "heronbenchmarkkeystrokelatency"
CLOCK_TICKS = 100  # os.sysconf("SC_CLK_TCK") on Linux


def answer_text(tokens: int) -> str:
    paragraph = "The loop streams this answer while the user types; nothing should lag. "
    text = ""
    while len(text) < tokens * 4:
        text += paragraph * 3 + "\n\n- a point\n- another point with `code`\n\n"
    return text[: tokens * 4]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def run(messages: int, keys: int, home: Path) -> tuple[list[float], float, float]:
    """Latencies (ms), heron's CPU share while streaming, and seconds to fill the transcript."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        make_repo(repo, {"notes.txt": "a short file\n", "heron.toml": "max_steps = 2000\napproval = \"full-auto\"\n"})
        server = FakeOpenAIServer(chunk_size=4).start()
        turns = messages // 2
        server.script(*[tool_reply(call("read_file", path="notes.txt"), text=f"Step {i}: reading the notes.")
                        for i in range(turns)])
        server.script(Reply(text=answer_text(STREAM_TOKENS), chunk_delay=1 / TOKENS_PER_SECOND))
        app = TmuxApp([str(HERON), "--base-url", server.base_url], cwd=repo,
                      env=heron_env(home, TERM="xterm-256color"), size=(120, 40))
        try:
            app.wait_for("fake-model")
            started = time.monotonic()
            app.type("go")
            app.keys("Enter")
            app.wait_for("The loop streams this answer", seconds=600)  # the transcript is filled
            filled = time.monotonic() - started
            time.sleep(0.5)
            pid = app.pid()
            cpu0, wall0 = cpu_seconds(pid), time.monotonic()
            latencies = type_keys(app, keys)
            cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)
            if server.replies:
                raise SystemExit("the stream ended before the keys were typed: raise STREAM_TOKENS")
        finally:
            app.close()
            server.stop()
    return latencies, cpu, filled


def type_keys(app: TmuxApp, keys: int, stop: str | None = None) -> list[float]:
    """Latencies of `keys` keys typed one by one; fewer when `stop` shows on the screen."""
    latencies = []
    typed = ""
    for n in range(keys):
        if len(typed) == len(TYPED):
            app.keys("C-u")  # clear the line, so what is typed next is unique on screen
            deadline = time.monotonic() + 10
            while typed in app.screen() and time.monotonic() < deadline:
                time.sleep(0.01)
            typed = ""
        char = TYPED[len(typed)]
        typed += char
        sent = time.monotonic()
        app.type(char)
        while typed not in (screen := app.screen()):
            if time.monotonic() - sent > 10:
                raise SystemExit(f"key {n} never reached the screen:\n{app.screen()}")
            time.sleep(0.002)
        latencies.append((time.monotonic() - sent) * 1000)
        if stop and stop in screen:
            break
        time.sleep(0.05)  # a fast typist: 20 keys a second at most
    return latencies


MAP_BUILT = "MAPBUILT"


def run_map(repo: Path, keys: int, home: Path) -> tuple[list[float], float]:
    """Latencies (ms) of keys typed from the first message on until the model's answer shows,
    which it does once the repo map of `repo` is built (or refreshed, its cache warm); and the
    seconds that took."""
    server = FakeOpenAIServer(chunk_size=4).start()
    server.script(Reply(text=f"{MAP_BUILT}: the map is in the prompt."))
    app = TmuxApp([str(HERON), "--base-url", server.base_url], cwd=repo,
                  env=heron_env(home, TERM="xterm-256color"), size=(120, 40))
    try:
        app.wait_for("fake-model", seconds=120)
        started = time.monotonic()
        app.type("go")
        app.keys("Enter")
        latencies = type_keys(app, keys, stop=MAP_BUILT)
        app.wait_for(MAP_BUILT, seconds=3600)
        built = time.monotonic() - started
    finally:
        app.close()
        server.stop()
    return latencies, built


def map_main(repo: Path, keys: int) -> None:
    """Keys typed while the map of `repo` builds with an empty cache, then while a new session
    loads it from the cache (XDG_CACHE_HOME, when set, is where it is kept)."""
    print(f"keystroke-to-screen while the first turn maps {repo}, at most {keys} keys a run")
    print(f"{'run':<24} {'keys':>5} {'median ms':>10} {'p90 ms':>8} {'max ms':>8} {'over 50 ms':>11} {'map s':>7}")
    with tempfile.TemporaryDirectory() as home:
        for label in ("cold cache", "warm cache"):
            latencies, built = run_map(repo, keys, Path(home))
            p90 = statistics.quantiles(latencies, n=10)[-1] if len(latencies) > 1 else latencies[0]
            print(f"{label:<24} {len(latencies):>5} {statistics.median(latencies):>10.1f} {p90:>8.1f} "
                  f"{max(latencies):>8.1f} {sum(1 for v in latencies if v > 50):>11} {built:>7.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=60, help="keystrokes measured per run (default 60)")
    parser.add_argument("--repo", type=Path, help="instead: type while the first turn maps this repository")
    args = parser.parse_args()
    if args.repo:
        map_main(args.repo.resolve(), args.keys)
        return
    with tempfile.TemporaryDirectory() as home:
        results = {label: run(messages, args.keys, Path(home))
                   for label, messages in (("fresh session (anchor)", 0), ("1,000 messages", 1000))}
    print(f"keystroke-to-screen while streaming at {TOKENS_PER_SECOND} tokens/s, {args.keys} keys per run")
    print(f"{'run':<24} {'median ms':>10} {'p90 ms':>8} {'max ms':>8} {'heron CPU':>10} {'fill s':>7}")
    for label, (latencies, cpu, filled) in results.items():
        p90 = statistics.quantiles(latencies, n=10)[-1]
        print(f"{label:<24} {statistics.median(latencies):>10.1f} {p90:>8.1f} {max(latencies):>8.1f} "
              f"{cpu:>9.0%} {filled:>7.1f}")
    anchor, long = (statistics.median(r[0]) for r in results.values())
    print(f"median ratio, 1,000 messages / anchor: {long / anchor:.2f}")
    print("(the tmux capture round trip, a few ms, is part of every figure)")


if __name__ == "__main__":
    main()
