"""Decisions about exceptions (ack, resolve, suppress, reopen) and controls (grant, suspend)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from spansift.cli._act import contracts_for, submit
from spansift.cli._common import db_option, fail
from spansift.cli._remote import token_option
from spansift.cli._when import (
    parse_duration,
    since_until_options,
    status_option,
    type_option,
    window,
)
from spansift.review.actions import FOLLOW_UPS


def _decision_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.argument("ids", nargs=-1),
            db_option,
            click.option("--by", "actor", required=True, help="Who decides (name or email)."),
            click.option("--note", help="Why, in a sentence."),
            click.option("--owner", help="Assign the exceptions to this owner."),
            type_option,
            click.option("--workflow", help="Filter: this workflow."),
            click.option("--rule", help="Filter: this rule id."),
            status_option,
            since_until_options,
            click.option(
                "--pattern",
                is_flag=True,
                help="Decide about the patterns of the chosen exceptions, so later rows of "
                "them follow (resolve, suppress, reopen).",
            ),
            token_option,
        )
    ):
        func = option(func)
    return func


def _decide(action: str, ids: tuple[str, ...], options: dict[str, Any]) -> None:
    filters: dict[str, Any] = {
        key: options.pop(name)
        for key, name in (
            ("type", "exception_type"),
            ("workflow", "workflow"),
            ("rule", "rule"),
            ("status", "status"),
        )
        if options.get(name)
    }
    start, end = window(options.pop("since", None), options.pop("until", None))
    for key, value in (("since", start), ("until", end)):
        if value is not None:
            filters[key] = value.isoformat()
    doc: dict[str, Any] = {"op": "decide", "action": action, "ids": list(ids), "filter": filters}
    for key in ("actor", "note", "owner", "resolution", "follow_up", "for_s", "pattern"):
        if options.get(key):
            doc[key] = options[key]
    answer = submit(options["db"], doc)
    count = int(answer["decided"])
    if "patterns" in answer:
        click.echo(f"{answer['status']}: {count} pattern{'s' if count != 1 else ''}")
        for fingerprint in answer["patterns"]:
            click.echo(f"  pattern {fingerprint}")
        return
    click.echo(f"{answer['status']}: {count} exception{'s' if count != 1 else ''}")
    for exception_id in answer["ids"][:20]:
        click.echo(f"  {exception_id[:12]}")
    if len(answer["ids"]) > 20:
        click.echo(f"  ... and {len(answer['ids']) - 20} more")


_FOLLOW_UP = click.option(
    "--follow-up",
    "follow_up",
    type=click.Choice(FOLLOW_UPS),
    help="The control this leads to (eval_case, grader_rule, source_policy, ...).",
)


@click.command()
@_decision_options
@_FOLLOW_UP
def ack(ids: tuple[str, ...], **options: Any) -> None:
    """Acknowledge exceptions (by id prefix, or by filter): someone is on it."""
    _decide("ack", ids, options)


@click.command()
@_decision_options
@click.option("--resolution", required=True, help="What was done about it.")
@click.option("--for", "duration", help="With --pattern: watch for regressions this long.")
@_FOLLOW_UP
def resolve(ids: tuple[str, ...], duration: str | None, **options: Any) -> None:
    """Resolve exceptions; a later row of the same pattern shows as `regressed`."""
    if duration:
        options["for_s"] = parse_duration(duration).total_seconds()
    _decide("resolve", ids, options)


@click.command()
@_decision_options
def assign(ids: tuple[str, ...], **options: Any) -> None:
    """Assign exceptions to an --owner without changing their status."""
    if not options.get("owner"):
        fail("name the new owner with --owner")
    _decide("assign", ids, options)


@click.command()
@_decision_options
@click.option("--for", "duration", required=True, help="How long, e.g. 24h or 7d.")
@click.option("--resolution", help="Why it is acceptable for now.")
@_FOLLOW_UP
def suppress(ids: tuple[str, ...], duration: str, **options: Any) -> None:
    """Suppress exceptions until the time given by --for; after that they count as open."""
    options["for_s"] = parse_duration(duration, "--for").total_seconds()
    _decide("suppress", ids, options)


@click.command()
@_decision_options
def reopen(ids: tuple[str, ...], **options: Any) -> None:
    """Reopen exceptions that were acknowledged, resolved or suppressed."""
    _decide("reopen", ids, options)


@click.group(invoke_without_command=True)
@db_option
@click.option("--agent", help="The agent the grant is for.")
@click.option("--tool", help="The tool it may use without a new approval.")
@click.option(
    "--scope",
    default="*",
    show_default=True,
    help="Limits, e.g. 'workflow=refunds,uses=20' (workflow glob, most uses).",
)
@click.option("--expires", help="How long it lasts, e.g. 24h.")
@click.option("--by", "approvers", multiple=True, help="Approver; twice for high-impact.")
@click.option("--justification", help="Why the standing approval is safe.")
@click.option("--contracts", type=click.Path(exists=True, dir_okay=False), help="Contracts file.")
@token_option
@click.pass_context
def grant(
    ctx: click.Context,
    db: str,
    agent: str | None,
    tool: str | None,
    scope: str,
    expires: str | None,
    approvers: tuple[str, ...],
    justification: str | None,
    contracts: str | None,
) -> None:
    """Grant a standing approval: covered uses are logged as covered, not as exceptions.

    `spansift grant revoke ID` takes one back before it expires.
    """
    if ctx.invoked_subcommand is not None:
        return
    missing = [
        f"--{name}"
        for name, value in (("agent", agent), ("tool", tool), ("expires", expires),
                            ("by", approvers), ("justification", justification))
        if not value
    ]  # fmt: skip
    if missing or expires is None:
        fail(f"a grant needs {', '.join(missing)}")
        return
    doc = {
        "op": "grant", "agent": agent, "tool": tool, "scope": scope,
        "expires_s": parse_duration(expires, "--expires").total_seconds(),
        "approvers": list(approvers),
        "justification": justification,
    }  # fmt: skip
    answer = submit(db, doc, contracts_for(contracts))
    click.echo(
        f"granted {answer['grant_id'][:12]}: {agent} may use {tool} ({scope}) "
        f"until {answer['expires_at']} UTC"
    )


@grant.command("revoke")
@click.argument("grant_id")
@db_option
@click.option("--by", "actor", required=True, help="Who takes the grant back.")
@click.option("--reason", required=True, help="Why.")
@token_option
def revoke(grant_id: str, db: str, actor: str, reason: str) -> None:
    """Take a standing approval back before it expires; later uses are exceptions again."""
    answer = submit(db, {"op": "revoke", "grant_id": grant_id, "actor": actor, "reason": reason})
    click.echo(f"revoked {answer['grant_id'][:12]} at {answer['revoked_at']} UTC")


def _switch(action: str, db: str, agent: str | None, workflow: str | None, actor: str,
            reason: str) -> None:  # fmt: skip
    if bool(agent) == bool(workflow):
        fail("name exactly one of --agent or --workflow")
    kind, target = ("agent", agent) if agent else ("workflow", workflow)
    doc = {"op": "suspend", "action": action, "target_kind": kind, "target": target,
           "actor": actor, "reason": reason}  # fmt: skip
    answer = submit(db, doc)
    state = "suspended" if answer["suspended"] else "active"
    click.echo(f"{kind} {target}: {state}")


def _switch_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            db_option,
            click.option("--agent", help="The agent to switch."),
            click.option("--workflow", help="The workflow to switch."),
            click.option("--by", "actor", required=True, help="Who decides."),
            click.option("--reason", required=True, help="Why."),
            token_option,
        )
    ):
        func = option(func)
    return func


@click.command()
@_switch_options
def suspend(db: str, agent: str | None, workflow: str | None, actor: str, reason: str) -> None:
    """Suspend an agent or workflow: agents asking /spansift/suspended are told to stop."""
    _switch("suspend", db, agent, workflow, actor, reason)


@click.command()
@_switch_options
def resume(db: str, agent: str | None, workflow: str | None, actor: str, reason: str) -> None:
    """Lift a suspension of an agent or workflow."""
    _switch("resume", db, agent, workflow, actor, reason)
