"""report_finding: how a reviewing model reports a problem, typed and validated, never parsed from prose.

Only changed lines may be blamed. The front-end puts a ReviewScope in the context (the changed
lines of the files under review); a finding outside every hunk is refused, so the model can
correct it, and one on a hunk's unchanged context line is moved to the nearest changed line.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from agent.findings import Finding, ReviewScope, Severity
from tools.base import ToolContext, ToolError, ToolResult, tool


class ReportFindingArgs(BaseModel):
    file: str = Field(description="path of the changed file, exactly as the diff names it")
    line: int = Field(ge=1, description="line number in the new version of the file, as the diff shows it")
    end_line: int | None = Field(None, ge=1, description="last line of the problem when it spans several lines")
    severity: Severity = Field(description=(
        "blocker: must not be committed (a bug, a security hole, data loss, broken build); "
        "warning: should be fixed soon; nit: minor style or taste"))
    category: str = Field(pattern=r"^[a-z][a-z-]{1,30}$", description=(
        "one lower-case word: bug, security, tests, performance, style, docs, or another"))
    message: str = Field(min_length=1, description="what is wrong and why, in one or two sentences")
    suggestion: str | None = Field(None, description=(
        "optional fix: the exact new text of lines line..end_line, which it replaces whole "
        "(keep the indentation); omit it unless you are sure"))

    @model_validator(mode="after")
    def _span(self) -> "ReportFindingArgs":
        if self.end_line is not None and self.end_line < self.line:
            raise ValueError("end_line must not be before line")
        return self


@tool(kind="meta")
def report_finding(args: ReportFindingArgs, ctx: ToolContext) -> ToolResult:
    """Report one problem in the changed code, on a changed line. Call it once per problem."""
    finding, note = anchor(ctx.review_scope or ReviewScope(), args)
    if ctx.findings is not None:
        ctx.findings(finding)
    return ToolResult(f"Recorded {finding.severity} at {finding.file}:{finding.line}.{note}")


def anchor(scope: ReviewScope, args: ReportFindingArgs) -> tuple[Finding, str]:
    """The finding on changed lines; moved there from a hunk's context line, refused elsewhere."""
    path = args.file.removeprefix("./")
    hunks = scope.hunks.get(path)
    if hunks is None:
        files = ", ".join(scope.hunks) or "none"
        raise ToolError(f"{args.file} is not among the changed files under review ({files})")
    end = args.end_line or args.line
    span = range(args.line, end + 1)
    if any(n in span for h in hunks for n in h.changed):
        return Finding(path, args.line, end, args.severity, args.category, args.message, args.suggestion), ""
    home = next((h for h in hunks if h.start <= args.line <= h.end and h.changed), None)
    if home is None:
        raise ToolError(
            f"line {args.line} of {path} was not changed; only changed lines may be blamed "
            f"(changed: {scope.changed_lines(path)}). Report it on a changed line or not at all."
        )
    moved = min(home.changed, key=lambda n: (abs(n - args.line), n))
    note = f" Moved from line {args.line}, which is unchanged, to line {moved}, the nearest changed line"
    note += "; its suggestion was dropped." if args.suggestion else "."
    return Finding(path, moved, moved, args.severity, args.category, args.message, None), note
