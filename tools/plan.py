"""todo and finish: the plan the model keeps, and how it says it is done."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.base import TaskFinished, ToolContext, ToolResult, tool

MARKS = {"pending": "[ ]", "in_progress": "[~]", "done": "[x]"}


class TodoItem(BaseModel):
    text: str = Field(description="one step of the plan")
    status: Literal["pending", "in_progress", "done"] = "pending"


class TodoArgs(BaseModel):
    items: list[TodoItem] = Field(description="the whole plan, every item, in order")


@tool(kind="meta")
def todo(args: TodoArgs, ctx: ToolContext) -> ToolResult:
    """Write or update your plan: the full list of steps with their status. Call it first, then keep it current."""
    items = [item.model_dump() for item in args.items]
    ctx.plan = items
    shown = "\n".join(f"{MARKS[i['status']]} {i['text']}" for i in items) or "(empty plan)"
    return ToolResult(f"Plan updated:\n{shown}", data={"plan": items})


class FinishArgs(BaseModel):
    summary: str = Field(description="what you changed and why, in a few sentences")


@tool(kind="meta")
def finish(args: FinishArgs, ctx: ToolContext) -> ToolResult:
    """Call when the task is complete, with a short summary of what you changed."""
    raise TaskFinished(args.summary)
