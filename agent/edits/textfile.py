"""Text files as the model sees them, written back byte for byte as they were.

A file is decoded once into `TextFile`: its text with "\\n" line endings, plus what is needed to
write it back unchanged around an edit: the encoding, the byte-order mark, CRLF endings and
whether it ended with a newline. Bytes that are not valid UTF-8 in a mostly-UTF-8 file are kept
as surrogate escapes (PEP 383), so an edit elsewhere in the file leaves them untouched; a file
with no UTF-8 at all is read as Latin-1, which maps every byte to one character and back.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

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


@dataclass(frozen=True)
class TextFile:
    text: str  # with "\n" endings when the file used CRLF throughout
    encoding: str = "utf-8"
    bom: bytes = b""
    crlf: bool = False
    final_newline: bool = True

    def with_text(self, text: str) -> TextFile:
        """The same file with new text, keeping its final-newline state."""
        text = text.replace("\r\n", "\n") if self.crlf else text
        if text and self.final_newline and not text.endswith("\n"):
            text += "\n"
        elif not self.final_newline:
            text = text.rstrip("\n")
        return replace(self, text=text)

    def encode(self) -> bytes:
        text = self.text.replace("\n", "\r\n") if self.crlf else self.text
        try:
            return self.bom + text.encode(self.encoding, errors="surrogateescape")
        except UnicodeEncodeError as e:
            bad = text[e.start : e.end]
            raise ToolError(
                f"the file is {self.encoding}, which cannot hold {bad!r}; use characters it can encode"
            ) from None


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
    newlines = text.count("\n")
    crlf = newlines > 0 and text.count("\r\n") == newlines
    if crlf:
        text = text.replace("\r\n", "\n")
    return TextFile(text, encoding, bom, crlf, final_newline=not text or text.endswith("\n"))


def new_file(text: str) -> TextFile:
    return TextFile(text, final_newline=not text or text.endswith("\n"))


def load(path: Path, shown: str) -> tuple[TextFile, bytes]:
    """The decoded file and its raw bytes (whose hash is the read stamp)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ToolError(f"{shown} does not exist") from None
    except IsADirectoryError:
        raise ToolError(f"{shown} is a directory") from None
    except OSError as e:
        raise ToolError(f"{shown}: cannot read: {e.strerror}") from None
    return decode(data, shown), data


def save(path: Path, file: TextFile) -> bytes:
    data = file.encode()
    write_atomic(path, data)
    return data


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file, synced, then rename, so neither an interrupt, a crash nor a
    full disk ever leaves half a file; the file keeps its mode and owner (a new one: the umask's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.stat() if path.exists() else None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".heron")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if old is not None and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                os.fchown(f.fileno(), old.st_uid, old.st_gid)
            os.fchmod(f.fileno(), old.st_mode & 0o7777 if old else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process's umask, read without changing it (os.umask can only set it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    return 0o022


def stamp(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def displayable(text: str) -> str:
    """Text safe to send to the model: undecodable bytes shown as U+FFFD."""
    return SURROGATE_ESCAPE.sub("\ufffd", text)
