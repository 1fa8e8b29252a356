"""Images for the model: read with Pillow, downscaled and capped, sent as `image_url` data URLs.

Every image heron sends passes `picture()`: it must decode as an image, is scaled so its longer
side is at most MAX_SIDE pixels, and is re-encoded as PNG (or JPEG when the PNG would be too
large), so a screenshot costs a bounded number of tokens and every server gets a format it reads.
The bytes are then fixed: their hash names them in the session's folder, and a resumed session
sends exactly the same bytes, so the server's prompt cache still matches.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

from agent.errors import UsageError

MAX_SIDE = 1568
MAX_BYTES = 3 * 1024 * 1024
# Pillow refuses images that would decode to more pixels than this (decompression bombs).
MAX_PIXELS = 64_000_000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
# Qwen's vision encoder turns each 28x28 patch into one token (after merging 2x2 14-pixel patches).
PATCH = 28


class ImageError(UsageError):
    """Not an image heron can send: unreadable, not an image, or absurdly large."""


@dataclass(frozen=True)
class Picture:
    mime: str
    data: bytes
    width: int
    height: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def suffix(self) -> str:
        return ".png" if self.mime == "image/png" else ".jpg"

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode()}"

    def part(self) -> dict[str, object]:
        """The OpenAI content part for this image."""
        return {"type": "image_url", "image_url": {"url": self.data_url()}}

    def tokens(self) -> int:
        return math.ceil(self.width / PATCH) * math.ceil(self.height / PATCH) + 2


def is_image_path(path: str | Path) -> bool:
    return str(path).lower().endswith(IMAGE_SUFFIXES)


def load_picture(path: Path) -> Picture:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageError(f"{path}: cannot read it ({e.strerror or e})") from None
    return picture(data, str(path))


def picture(data: bytes, name: str = "the image") -> Picture:
    """The image in `data`, downscaled to MAX_SIDE and re-encoded; ImageError when it is none."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                frame = image.convert("RGBA" if _has_alpha(image) else "RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{name}: not an image heron can read ({type(e).__name__})") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"{name}: the image is damaged ({e})") from None
    frame.thumbnail((MAX_SIDE, MAX_SIDE))
    encoded = _encode(frame, "PNG")
    if len(encoded) > MAX_BYTES:
        encoded = _encode(frame.convert("RGB"), "JPEG")
        return Picture("image/jpeg", encoded, frame.width, frame.height)
    return Picture("image/png", encoded, frame.width, frame.height)


def from_data_url(url: str) -> bytes:
    return base64.b64decode(url.partition(",")[2])


def part_tokens(part: dict[str, object]) -> int:
    """What an image part costs in the window, from the image's size (its header alone is read)."""
    from PIL import Image

    url = str((part.get("image_url") or {}).get("url", ""))  # type: ignore[union-attr]
    try:
        with Image.open(io.BytesIO(from_data_url(url))) as image:
            width, height = image.size
    except (OSError, ValueError):
        width = height = MAX_SIDE
    return math.ceil(width / PATCH) * math.ceil(height / PATCH) + 2


def content_text(content: object) -> str:
    """The text of a message's content, whether a string or a list of parts."""
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content or "")


def with_pictures(text: str, pictures: list[Picture] | tuple[Picture, ...]) -> str | list[dict[str, object]]:
    """A message's content: the text alone, or the text and then each image."""
    if not pictures:
        return text
    return [{"type": "text", "text": text}, *(p.part() for p in pictures)]


def _has_alpha(image: object) -> bool:
    mode = getattr(image, "mode", "")
    return mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in getattr(image, "info", {}))


def _encode(frame: object, kind: str) -> bytes:
    out = io.BytesIO()
    options = {"optimize": True} if kind == "PNG" else {"quality": 85}
    frame.save(out, kind, **options)  # type: ignore[attr-defined]
    return out.getvalue()
