"""heron's own journal, for workspaces that are not git repositories.

Before a file tool first changes a path in a turn, the path's content (or its absence) is kept,
and the list of kept paths written to disk, before the change; when the turn ends, what it became
is fingerprinted. A turn heron never ended (it was killed) is closed by the next `heron undo`
with what it finds then. Undo puts back the kept content of paths
that still hold what the turn left. Shell commands are not journaled: only a repository gives
full snapshots. Journals live in heron's state directory, never in the user's tree:

    <state>/journal/<hash of the workspace path>/<session>/<turn number>/{turn.json, 0, 1, ...}
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from agent.edits.textfile import write_atomic
from agent.events import Warning
from agent.interfaces import EventSink
from agent.sandbox.workspace import relative
from agent.vcs.checkpoints import CUT_SHORT, NothingToUndo, TurnRecord, UndoResult, first_line

MARKER = "session.json"
KEPT = "kept.json"  # in the pending turn's directory: what it kept so far, and its task


def journal_root(workspace: Path) -> Path:
    key = hashlib.sha256(str(workspace.resolve()).encode()).hexdigest()[:16]
    return platformdirs.user_state_path("heron") / "journal" / key


@dataclass
class _Kept:
    """A path as it was before the turn: its copy's file name and mode, or None if it did not exist."""

    blob: str | None
    mode: int | None


class Journal:
    def __init__(self, workspace: Path, session: str, emit: EventSink, notes: list[str] | None = None) -> None:
        self.workspace = workspace.resolve()
        self.session = session
        self.emit = emit
        self.notes = notes or []
        self.dir = journal_root(workspace) / session
        self.task = ""
        self.kept: dict[str, _Kept] = {}

    @classmethod
    def latest(cls, workspace: Path, emit: EventSink) -> "Journal | None":
        root = journal_root(workspace)
        if not root.is_dir():
            return None
        # Only sessions that changed something have a marker: those are what undo looks for.
        sessions = sorted((p.name for p in root.iterdir() if (p / MARKER).is_file()), reverse=True)
        for session in sessions:
            journal = cls(workspace, session, emit)
            if journal.close_cut_turn():
                return journal
        return None

    def close_cut_turn(self) -> bool:
        """Close a turn heron never ended (it was killed mid-turn), from the list it kept on disk.
        False when the session has no turn to undo after that (its journal is then removed)."""
        kept = self._pending() / KEPT
        if kept.is_file():
            data = json.loads(kept.read_text())
            self.kept = {rel: _Kept(**entry) for rel, entry in data["kept"].items()}
            self.task = data["task"]
            self._close_turn(self.task + CUT_SHORT)  # the label in full, as in git's
            self.kept = {}
        if self._turn_dirs():
            return True
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    # -- turn boundaries ----------------------------------------------------------------------

    def begin_turn(self, task: str) -> None:
        for note in self.notes:  # said once, when the agent is about to act
            self.emit(Warning(note))
        self.notes = []
        self.task = first_line(task)
        self.kept = {}

    def before_change(self, path: Path) -> None:
        rel = relative(self.workspace, path)
        if rel in self.kept or path == self.workspace:  # the whole workspace: a shell command, not journaled
            return
        try:
            self._keep(rel, path)
        except OSError as e:  # a journal that cannot be written limits undo, not the task
            self.emit(Warning(f"could not keep {rel} in heron's journal ({e}); undo will not cover it"))

    def _keep(self, rel: str, path: Path) -> None:
        pending = self._pending()
        pending.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            blob = str(len(self.kept))
            shutil.copyfile(path, pending / blob)
            self.kept[rel] = _Kept(blob, path.stat().st_mode & 0o7777)
        else:
            self.kept[rel] = _Kept(None, None)
        # On disk before the change happens, so a heron killed mid-turn leaves nothing unknown.
        listing = {"task": self.task, "kept": {r: vars(k) for r, k in self.kept.items()}}
        write_atomic(pending / KEPT, json.dumps(listing).encode())
        write_atomic(self.dir / MARKER, json.dumps({"workspace": str(self.workspace)}).encode())

    def end_turn(self, summary: str) -> None:
        try:
            self._close_turn(first_line(summary) or self.task)
        except OSError as e:
            self.emit(Warning(f"could not write heron's journal ({e}); undo will not cover this turn"))
        self.kept = {}

    def _close_turn(self, label: str) -> None:
        pending = self._pending()
        if not self.kept:
            return
        files: dict[str, dict[str, Any]] = {}
        for rel, kept in self.kept.items():
            before = _fingerprint(pending / kept.blob) if kept.blob else None
            after = _fingerprint(self.workspace / rel)
            if before != after:
                files[rel] = {"blob": kept.blob, "mode": kept.mode, "after": after}
        if not files:
            shutil.rmtree(pending, ignore_errors=True)
            if not self._turn_dirs():
                shutil.rmtree(self.dir, ignore_errors=True)
            return
        write_atomic(pending / "turn.json", json.dumps({"label": label, "files": files}, indent=1).encode())
        (pending / KEPT).unlink()
        pending.rename(self.dir / f"{len(self._turn_dirs()) + 1:04d}")

    def _pending(self) -> Path:
        return self.dir / "pending"

    # -- reading and undoing ------------------------------------------------------------------

    def _turn_dirs(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.iterdir() if p.name.isdigit() and (p / "turn.json").is_file())

    def turns(self) -> list[TurnRecord]:
        records = []
        for number, turn_dir in enumerate(self._turn_dirs(), start=1):
            data = _load(turn_dir)
            records.append(TurnRecord(number, data["label"], sorted(data["files"])))
        return records

    def diff_stat(self) -> str:
        paths = sorted({p for turn in self.turns() for p in turn.paths})
        return "\n".join(f" {p} (changed by heron's file tools)" for p in paths)

    def undo(self, n: int = 1) -> UndoResult:
        dirs = self._turn_dirs()
        if not dirs:
            raise NothingToUndo(f"nothing to undo: heron's journal of session {self.session} has no turn left")
        undone = dirs[-n:]
        records = self.turns()[-len(undone):]
        # Oldest turn first: each path goes back to how it was before the first undone turn changed it.
        targets: dict[str, tuple[Path, dict[str, Any]]] = {}
        expected: dict[str, str | None] = {}
        for turn_dir in undone:
            for rel, entry in _load(turn_dir)["files"].items():
                targets.setdefault(rel, (turn_dir, entry))
                expected[rel] = entry["after"]
        result = UndoResult(turns=records)
        for rel, (turn_dir, entry) in sorted(targets.items()):
            path = self.workspace / rel
            if _fingerprint(path) != expected[rel]:
                result.kept.append(rel)
            elif entry["blob"] is None:
                path.unlink(missing_ok=True)
                result.removed.append(rel)
            else:
                _put_back(turn_dir / entry["blob"], path, entry["mode"])
                result.restored.append(rel)
        for turn_dir in undone:
            shutil.rmtree(turn_dir)
        return result


def _put_back(copy: Path, path: Path, mode: int) -> None:
    """Replace `path` with the kept copy in one rename, so an interrupt never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.heron-undo")
    shutil.copyfile(copy, tmp)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _load(turn_dir: Path) -> dict[str, Any]:
    return json.loads((turn_dir / "turn.json").read_text())


def _fingerprint(path: Path) -> str | None:
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()
