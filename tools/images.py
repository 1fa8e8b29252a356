"""view_image: let the model look at an image file of the workspace (a screenshot, a diagram, a plot)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent.images import ImageError, is_image_path, load_picture
from agent.sandbox.workspace import resolve
from tools.base import ToolContext, ToolError, ToolResult, tool


class ViewImageArgs(BaseModel):
    path: str = Field(description="image file path (png, jpg, gif, webp, bmp), relative to the workspace root")


@tool(kind="read", subject=lambda a: a.path)
def view_image(args: ViewImageArgs, ctx: ToolContext) -> ToolResult:
    """Look at an image file of the workspace; the image is shown to you after the tool results."""
    path = resolve(ctx.workspace, args.path)
    if not is_image_path(path) or not path.is_file():
        raise ToolError(f"{args.path}: not an image file (png, jpg, gif, webp or bmp)")
    try:
        picture = load_picture(path)
    except ImageError as e:
        raise ToolError(str(e)) from None
    return ToolResult(f"{args.path}: {picture.width}x{picture.height} image, shown below", pictures=[picture])
