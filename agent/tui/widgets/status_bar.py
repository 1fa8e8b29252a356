"""One line at the bottom: model, endpoint, context meter, speed, prompt-cache reuse, mode."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


class StatusBar(Static):
    model = reactive("")
    endpoint = reactive("connecting…")
    used_tokens = reactive(0)
    window = reactive[int | None](None)
    tokens_per_second = reactive[float | None](None)
    cache_reuse = reactive[float | None](None)
    mode = reactive("ask")
    busy = reactive(False)

    def __init__(self) -> None:
        super().__init__(id="status")

    def render(self) -> Text:
        window = f"{self.window / 1000:.0f}k" if self.window else "?"
        share = f" {100 * self.used_tokens / self.window:.0f}%" if self.window else ""
        speed = f"{self.tokens_per_second:.0f} tok/s" if self.tokens_per_second else "– tok/s"
        cache = f"cache {100 * self.cache_reuse:.0f}%" if self.cache_reuse is not None else "cache –"
        return Text.assemble(
            ("● " if self.busy else "○ ", "bold green" if self.busy else "dim"),
            (self.model or "no model", "bold"), "  ", (self.endpoint, "dim"), "  ",
            f"ctx {self.used_tokens / 1000:.1f}k/{window}{share}", "  ", speed, "  ", cache, "  ",
            ("mode ", "dim"), (self.mode, "bold reverse" if self.mode == "plan" else "bold"),
        )
