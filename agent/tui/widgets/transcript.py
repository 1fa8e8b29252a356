"""The transcript: every entry kept as data, only the newest widgets mounted.

Textual lays out every mounted widget, so a session of a thousand messages would slow each
refresh. Entries stay in a list; widgets exist for the newest LIVE of them. Scrolling to the top
mounts the previous page above, keeping what is on screen still; older widgets are dropped again
once the user is back at the bottom. The view is anchored to the bottom while it streams, and the
anchor is released as soon as the user scrolls up, so reading back never jumps.
"""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from agent.tui.entries import AssistantEntry, Entry, NoticeEntry, PanelEntry, UserEntry
from agent.tui.widgets.assistant_message import AssistantMessage
from agent.tui.widgets.notice import Notice
from agent.tui.widgets.tool_panel import ToolPanel
from agent.tui.widgets.user_message import UserMessage

LIVE = 40
PAGE = 20


def widget_for(entry: Entry) -> Widget:
    match entry:
        case UserEntry():
            return UserMessage(entry)
        case AssistantEntry():
            return AssistantMessage(entry)
        case PanelEntry():
            return ToolPanel(entry)
        case NoticeEntry():
            return Notice(entry)
    raise TypeError(f"no widget for {type(entry).__name__}")


class Transcript(VerticalScroll, can_focus=False):
    def __init__(self) -> None:
        super().__init__(id="transcript")
        self.entries: list[Entry] = []
        self.first_shown = 0  # index in `entries` of the first mounted entry widget
        self._loading_older = False

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("", id="earlier")

    def on_mount(self) -> None:
        self.anchor()
        self._show_earlier_count()

    @property
    def entry_widgets(self) -> list[Widget]:
        return [w for w in self.children if w.id != "earlier"]

    async def add(self, entry: Entry) -> Widget:
        self.entries.append(entry)
        widget = widget_for(entry)
        await self.mount(widget)
        self._prune()
        return widget

    async def add_many(self, entries: list[Entry]) -> None:
        """Append entries at once (a restored session): only the newest are mounted."""
        self.entries.extend(entries)
        await self.remove_children(self.entry_widgets)
        self.first_shown = max(0, len(self.entries) - LIVE)
        await self.mount_all([widget_for(e) for e in self.entries[self.first_shown:]])
        self._show_earlier_count()
        self.scroll_end(animate=False, immediate=True)

    async def clear(self) -> None:
        self.entries.clear()
        self.first_shown = 0
        await self.remove_children(self.entry_widgets)
        self._show_earlier_count()

    def _prune(self) -> None:
        if self._anchor_released:
            return  # the user is reading back; dropping widgets now would move the text
        mounted = self.entry_widgets
        excess = len(mounted) - LIVE
        if excess >= PAGE:
            for widget in mounted[:excess]:
                widget.remove()
            self.first_shown += excess
            self._show_earlier_count()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value <= 0 and self.first_shown > 0 and not self._loading_older:
            self._loading_older = True
            self.call_later(self.show_older)
        elif new_value >= self.max_scroll_y and not self._loading_older:
            self._prune()  # back at the bottom: drop the pages read back

    async def show_older(self) -> None:
        """Mount the previous page above the first shown entry, keeping the view where it is."""
        try:
            start = max(0, self.first_shown - PAGE)
            widgets = [widget_for(e) for e in self.entries[start:self.first_shown]]
            mounted = self.entry_widgets
            await self.mount_all(widgets, before=mounted[0] if mounted else None)
            self.first_shown = start
            self._show_earlier_count()
            self.call_after_refresh(self._keep_view, widgets)
        except Exception:
            self._loading_older = False
            raise

    def _keep_view(self, widgets: list[Widget]) -> None:
        added = sum(w.outer_size.height for w in widgets)
        self.scroll_to(y=self.scroll_y + added, animate=False, immediate=True, release_anchor=False)
        self._loading_older = False

    def _show_earlier_count(self) -> None:
        earlier = self.query_one("#earlier", Static)
        earlier.display = self.first_shown > 0
        earlier.update(f"↑ {self.first_shown} earlier messages: scroll up to show them")
