"""Plan, then act: the plan the model wrote in plan mode goes to the user, who approves, edits,
asks for a revision or stays in plan mode."""

from __future__ import annotations

from agent.tui.host import Host
from agent.tui.screens.plan_review import PlanDecision, PlanReviewScreen, plan_text
from prompts import render


def review_plan(app: Host, summary: str) -> None:
    items = app.session.plan if app.session else []

    async def decided(decision: PlanDecision | None) -> None:
        await _act_on(app, decision)

    app.push_screen(PlanReviewScreen(items, summary), decided)


async def _act_on(app: Host, decision: PlanDecision | None) -> None:
    if decision is None or decision.action == "cancel":
        await app.say("Still in plan mode: comment on the plan, or Shift+Tab to leave plan mode.")
        return
    if decision.action == "revise":
        await app.send(render("plan_revise", plan=decision.plan, comment=decision.comment or "(none)"),
                       shown=f"Revise the plan: {decision.comment}" if decision.comment else "Revise the plan")
        return
    app.set_mode(app.act_mode)
    original = plan_text(app.session.plan) if app.session else ""
    prompt = render("act", plan=decision.plan,
                    edited=" (the user edited it)" if decision.plan != original else "",
                    comment=f"\nThe user's comments: {decision.comment}" if decision.comment else "")
    await app.send(prompt, shown="Plan approved: act on it" + (f" ({decision.comment})" if decision.comment else ""))
