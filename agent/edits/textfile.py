"""Text files as the model sees them, written back byte for byte as they were.

A file is decoded once into `TextFile`: its text with "\\n" line endings, plus what is needed to
write it back unchanged around an edit: the encoding, the byte-order mark, each line's own ending
(LF, CRLF, a bare CR, or the `\\r\\r\\n` of a CRLF file converted twice, mixed as they come) and
whether it ended with a newline. After an edit, lines the edit did not touch keep their endings
byte for byte, and a line it added takes the ending of the line it replaced or of its neighbour. Bytes that are not valid UTF-8 in a mostly-UTF-8 file are kept
as surrogate escapes (PEP 383), so an edit elsewhere in the file leaves them untouched; a file
with no UTF-8 at all is read as Latin-1, which maps every byte to one character and back.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from agent.edits import beneath
from agent.errors import ToolError

# Byte-order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one).
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
SURROGATE_ESCAPE = re.compile("[\udc80-\udcff]")
# Files from this size on are streamed when only some of their lines are read.
STREAM_FROM = 8 << 20
CHUNK = 1 << 20


ENDING = re.compile(r"\r\r\n|\r\n|\n|\r")


@dataclass(frozen=True)
class TextFile:
    text: str  # every line ends with "\n", whatever its ending in the file
    encoding: str = "utf-8"
    bom: bytes = b""
    newline: str = "\n"  # the ending most lines have: what a line gets with nothing else to go by
    endings: tuple[str, ...] | None = None  # each ended line's own ending, when not all `newline`
    final_newline: bool = True

    @property
    def crlf(self) -> bool:
        return self.newline == "\r\n" and self.endings is None

    def with_text(self, text: str) -> TextFile:
        """The same file with new text: its endings kept line by line around the change, and its
        final-newline state (models drop and add a last newline without meaning to). Text that
        carries CR endings of its own (a model never copies one, read_file shows none) means
        them: it is written as it is."""
        text = text.removeprefix("\ufeff") if self.bom else text
        text, newline, endings = split_endings(text)
        if newline != "\n" or endings is not None:
            return replace(self, text=text, newline=newline, endings=endings,
                           final_newline=not text or text.endswith("\n"))
        if text and self.final_newline and not text.endswith("\n"):
            text += "\n"
        elif not self.final_newline:
            text = text.rstrip("\n")
        endings = None if self.endings is None else self._endings_for(text)
        return replace(self, text=text, endings=endings)

    def encode(self) -> bytes:
        if self.endings is not None:
            lines = self.text.split("\n")
            text = "".join(line + ending for line, ending in zip(lines, self.endings)) + lines[-1]
        else:
            text = self.text if self.newline == "\n" else self.text.replace("\n", self.newline)
        try:
            return self.bom + text.encode(self.encoding, errors="surrogateescape")
        except UnicodeEncodeError as e:
            bad = text[e.start : e.end]
            raise ToolError(
                f"the file is {self.encoding}, which cannot hold {bad!r}; use characters it can encode"
            ) from None

    def _endings_for(self, text: str) -> tuple[str, ...]:
        """Endings for the lines of `text`: untouched lines (the common head and tail) keep theirs;
        in between, lines matched to old lines keep theirs and the rest take a neighbour's."""
        assert self.endings is not None
        old, new = self.text.split("\n"), text.split("\n")
        old_endings = [*self.endings, ""]  # the last piece after the last "\n" has none
        head = 0
        while head < min(len(old), len(new)) - 1 and old[head] == new[head]:
            head += 1
        tail = 0
        while tail < min(len(old), len(new)) - head - 1 and old[-1 - tail] == new[-1 - tail]:
            tail += 1
        out = old_endings[:head]
        middle = difflib.SequenceMatcher(None, old[head : len(old) - tail], new[head : len(new) - tail], autojunk=False)
        for _, i1, i2, j1, j2 in middle.get_opcodes():
            for k in range(j2 - j1):
                own = old_endings[head + i1 + k] if i1 + k < i2 else ""
                out.append(own or self._neighbour(old_endings, head + min(i1 + k, i2)))
        out += old_endings[len(old) - tail :]
        return tuple(e or self.newline for e in out[: len(new) - 1])

    def _neighbour(self, endings: list[str], at: int) -> str:
        for k in (at - 1, at):
            if 0 <= k < len(endings) and endings[k]:
                return endings[k]
        return self.newline


def decode(data: bytes, shown: str) -> TextFile:
    """The text of a file's bytes; refuses binary files."""
    bom, encoding = next(((b, e) for b, e in BOMS if data.startswith(b)), (b"", ""))
    body = data[len(bom) :]
    if encoding:
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError:
            raise ToolError(f"{shown} starts with a {encoding} byte-order mark but is not {encoding}") from None
    else:
        if b"\0" in body[:8192]:
            raise ToolError(f"{shown} is a binary file")
        encoding = "utf-8"
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("utf-8", errors="surrogateescape")
            if all(ord(c) < 0x80 or 0xDC80 <= ord(c) <= 0xDCFF for c in text):
                encoding, text = "latin-1", body.decode("latin-1")
    text, newline, endings = split_endings(text)
    return TextFile(text, encoding, bom, newline, endings, final_newline=not text or text.endswith("\n"))


def split_endings(text: str) -> tuple[str, str, tuple[str, ...] | None]:
    """The text with "\\n" endings, the ending most of its lines have, and every line's own
    ending when they are not all that one."""
    if "\r" not in text:  # the common cases first, at the speed of str methods
        return text, "\n", None
    crlf = text.count("\r\n")
    if crlf == text.count("\r") == text.count("\n") and "\r\r\n" not in text:
        return text.replace("\r\n", "\n"), "\r\n", None
    endings = ENDING.findall(text)
    newline = Counter(endings).most_common(1)[0][0] if endings else "\n"
    mixed = tuple(endings) if any(e != newline for e in endings) else None
    return ENDING.sub("\n", text), newline, mixed


def new_file(text: str) -> TextFile:
    text, newline, endings = split_endings(text)
    return TextFile(text, newline=newline, endings=endings, final_newline=not text or text.endswith("\n"))


def load(path: Path, shown: str, root: Path | None = None) -> tuple[TextFile, bytes]:
    """The decoded file and its raw bytes (whose hash is the read stamp); inside `root`, read
    through agent/edits/beneath.py so no link swapped in on the way is followed."""
    try:
        data = beneath.read_bytes(root, path, shown) if root else path.read_bytes()
    except FileNotFoundError:
        raise ToolError(f"{shown} does not exist") from None
    except IsADirectoryError:
        raise ToolError(f"{shown} is a directory") from None
    except OSError as e:
        raise ToolError(f"{shown}: cannot read: {e.strerror}") from None
    return decode(data, shown), data


@dataclass(frozen=True)
class Window:
    """Some lines of a file, how many it has, and the read stamp of the whole of it."""

    lines: list[str]
    total: int
    stamp: str


def window(root: Path, path: Path, shown: str, start: int, limit: int) -> Window:
    """Lines start..start+limit of a file. A big file is streamed: hashed and decoded chunk by
    chunk, keeping only the lines asked for, so memory does not grow with its size."""
    fd = beneath.read_fd(root, path, shown)
    with os.fdopen(fd, "rb") as f:
        if os.fstat(f.fileno()).st_size < STREAM_FROM:
            data = f.read()
            lines = decode(data, shown).text.splitlines()
            return Window(lines[start : start + limit], len(lines), stamp(data))
        return _stream(f, shown, start, limit)


def _stream(f: BinaryIO, shown: str, start: int, limit: int) -> Window:
    first = f.read(CHUNK)
    bom, encoding = next(((b, e) for b, e in BOMS if first.startswith(b)), (b"", "utf-8"))
    if not bom and b"\0" in first[:8192]:
        raise ToolError(f"{shown} is a binary file")
    digest = hashlib.sha256(first)
    decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape" if not bom else "replace")
    kept: list[str] = []
    total, tail, chunk = 0, "", first[len(bom):]
    while True:
        text = tail + decoder.decode(chunk, final=not chunk)
        pieces = text.split("\n")
        tail = pieces.pop()
        for line in pieces:
            if start <= total < start + limit:
                kept.append(line.removesuffix("\r"))
            total += 1
        if not chunk:
            break
        chunk = f.read(CHUNK)
        digest.update(chunk)
    if tail:
        if start <= total < start + limit:
            kept.append(tail.removesuffix("\r"))
        total += 1
    return Window(kept, total, digest.hexdigest())


def save(path: Path, file: TextFile, root: Path | None = None) -> bytes:
    data = file.encode()
    write_atomic(path, data, root)
    return data


def write_atomic(path: Path, data: bytes, root: Path | None = None) -> None:
    """Write through a synced temporary file and rename, so an interrupt never leaves half a file.

    Inside `root` (the workspace), every component is opened without following links."""
    root = root or path.parent
    beneath.write_atomic(root, path, data, str(path.relative_to(root)))


def stamp(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def displayable(text: str) -> str:
    """Text safe to send to the model: undecodable bytes shown as U+FFFD."""
    return SURROGATE_ESCAPE.sub("\ufffd", text)
