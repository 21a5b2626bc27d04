"""`medic plans`: the recovery plans in force, a check of them, and what they would do to an event."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, NoReturn, TextIO

import click

from workers.classification import Classifier
from workers.cli import exit_codes
from workers.cli.context import json_option, settings
from workers.cli.output import emit_json, emit_table
from workers.clock import utcnow
from workers.intake.triage import Limits, Rejected, triage
from workers.recovery import engine
from workers.recovery.actions import ActionRegistry
from workers.recovery.plans import (
    CALL_STEPS,
    LoadedPlan,
    Match,
    RetryStep,
    builtin_plan_paths,
    has_work,
    load_plans,
)
from workers.recovery.service import load_plan_set

plans_option = click.option("--plans", "extra", multiple=True,
                            type=click.Path(exists=True, dir_okay=False, path_type=Path),
                            help="Plan file to apply over the built-in and configured ones (repeatable).")
_JITTER = {"full": "full jitter", "equal": "equal jitter", "none": "no jitter"}


@click.group()
def plans() -> None:
    """Recovery plans: list, check, explain an event.

    Plans come from the built-in files, then MEDIC_PLANS_FILES in order (a later plan of the same
    name replaces an earlier one); --plans adds files after those, to try a file before deploying it.
    """


def _paths(extra: tuple[Path, ...]) -> list[Path]:
    return [*builtin_plan_paths(), *settings().plans_files, *extra]


def _origin(path: Path) -> str:
    return f"built-in:{path.name}" if path in builtin_plan_paths() else str(path)


def describe_match(match: Match) -> str:
    parts = [f"{name}={','.join(values)}" for name, values in match.model_dump(exclude_none=True).items()]
    return " ".join(parts) or "(anything)"


def _steps(loaded: LoadedPlan) -> str:
    return " → ".join(step.kind for step in loaded.spec.steps)


@plans.command("list")
@plans_option
@json_option
def plans_list(extra, as_json) -> None:
    """List the plans in force, in the order they are tried.

    The first plan whose match fits an event is the one it gets: the highest priority, then the
    more specific match, then the later file.
    """
    plan_set = load_plans(_paths(extra))
    if as_json:
        emit_json([{"name": p.spec.name, "description": p.spec.description, "priority": p.spec.priority,
                    "match": p.spec.match.model_dump(mode="json", exclude_none=True), "steps": _steps(p),
                    "step_specs": [step.model_dump(mode="json") for step in p.spec.steps],
                    "on_exhausted": p.spec.on_exhausted, "origin": str(p.origin),
                    "builtin": p.origin in builtin_plan_paths()} for p in plan_set.plans])
        return
    emit_table(([p.spec.name, p.spec.priority, describe_match(p.spec.match), _steps(p), _origin(p.origin)]
                for p in plan_set.plans), ["name", "priority", "match", "steps", "origin"], empty="no plans")


@plans.command("check")
@plans_option
def plans_check(extra) -> None:
    """Validate the plan files and what they name.

    Loads the built-in plans, MEDIC_PLANS_FILES and --plans, and checks that every channel and
    action a step names exists; exit 3 naming the file, the plan and the field.
    """
    registry = ActionRegistry.from_entry_points()
    for problem in registry.problems():
        click.echo(f"medic: warning: {problem}", err=True)
    current = settings()
    # The very checks a worker makes at startup, with --plans after the configured files.
    plan_set = load_plan_set(current.model_copy(update={"plans_files": [*current.plans_files, *extra]}), registry)
    click.echo(f"ok: {len(plan_set.plans)} plans ({', '.join(_origin(p) for p in _paths(extra))})")


@plans.command("explain")
@click.argument("event_file", metavar="EVENT.json", type=click.File("r"))
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the jitter draws (the same seed, the same delays).")
@plans_option
@json_option
def plans_explain(event_file, seed, extra, as_json) -> None:
    """Which plan an event gets, and what it would do.

    Prints the plan and why it was chosen, then each step with its target and, assuming every
    attempt fails, the wait before each attempt (drawn with --seed) and the bounds jitter keeps
    it within. EVENT.json is a file, or - for stdin.

    The event is validated and classified as intake does; an invalid one exits 2 with the reason.
    """
    raw = _read_event(event_file)
    current = settings()
    decision = triage(raw, limits=Limits.from_settings(current), classifier=Classifier.from_settings(current),
                      received_at=utcnow())
    if isinstance(decision, Rejected):
        _fail(decision.reason)
    event, triaged = decision.event, decision.classification
    plan_set = load_plans(_paths(extra))
    chosen = plan_set.select(event, triaged.category, triaged.severity)
    loaded = next(p for p in plan_set.plans if p.spec.name == chosen.name)
    outranked = [p for p in plan_set.plans
                 if p is not loaded and p.spec.match.matches(event, triaged.category, triaged.severity)]
    explained = engine.explain(chosen, event, rng=random.Random(seed))
    steps = [_with_bounds(row, step) for row, step in zip(explained, chosen.steps, strict=True)]
    result = {"event": {key: event.get(key) for key in ("error_type", "message", "service", "operation", "source")},
              "classification": triaged.as_dict(),
              "plan": {"name": chosen.name, "description": chosen.description, "priority": chosen.priority,
                       "match": chosen.match.model_dump(mode="json", exclude_none=True), "origin": str(loaded.origin),
                       "on_exhausted": chosen.on_exhausted},
              "outranked": [p.spec.name for p in outranked], "seed": seed, "steps": steps,
              "execution": has_work(chosen, event), "group_signals": _signals(chosen)}
    if as_json:
        emit_json(result)
    else:
        _print_explanation(result, loaded)


def _signals(plan: Any) -> dict[str, dict[str, str]]:
    """The group signals the plan sends for events it has no work for, by kind."""
    return {kind: plan.group_signals.of(kind).model_dump(mode="json") for kind in plan.group_signals.kinds}


def _read_event(stream: TextIO) -> Any:
    name = "stdin" if stream.name == "<stdin>" else stream.name
    try:
        return json.loads(stream.read())
    except json.JSONDecodeError as exc:
        _fail(f"{name}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except UnicodeDecodeError:
        _fail(f"{name}: not UTF-8 text")


def _fail(reason: str) -> NoReturn:
    click.echo(f"medic: {reason}", err=True)
    raise SystemExit(exit_codes.USAGE)


def _with_bounds(row: dict[str, Any], step: Any) -> dict[str, Any]:
    """Add the policy and each attempt's bounds: the delays drawn depend on the seed, these do not."""
    if not isinstance(step, CALL_STEPS):
        return row
    flat, rng = step.model_copy(update={"jitter": "none"}), random.Random(0)
    highest = [engine.first_attempt_delay_s(flat, hint_retry_after_s=None, rng=rng)]
    highest += [engine.policy_delay_s(flat, number, rng) for number in range(2, step.max_attempts + 1)]
    share = {"full": 0.0, "equal": 0.5, "none": 1.0}[step.jitter]
    policy = {name: getattr(step, name) for name in ("max_attempts", "initial_delay_s", "backoff_rate", "max_delay_s",
                                                     "jitter", "timeout_s", "honour_retry_after", "max_retry_after_s")}
    if isinstance(step, RetryStep):
        policy["on_breaker_open"] = step.on_breaker_open
    return {**row, "policy": policy, "delay_bounds_s": [[round(d * share, 3), round(d, 3)] for d in highest]}


def _print_explanation(result: dict[str, Any], loaded: LoadedPlan) -> None:
    event, triaged, plan = result["event"], result["classification"], result["plan"]
    where = f"service {event['service']}" + (f", operation {event['operation']}" if event.get("operation") else "")
    click.echo(f"event     {event['error_type']}: {_short(event['message'])} ({where})")
    click.echo(f"triage    {triaged['category']}, severity {triaged['severity']}, "
               f"{'retryable' if triaged['retryable'] else 'not retryable'} (rule {triaged['rule']})")
    click.echo(f"plan      {plan['name']} (priority {plan['priority']}, {_origin(loaded.origin)})"
               + (f": {plan['description']}" if plan["description"] else ""))
    match = describe_match(loaded.spec.match)
    click.echo("why       " + (f"the event fits its match {match}" if loaded.spec.match.specificity
                              else "no more specific plan matches; this one matches anything"))
    if result["outranked"]:
        click.echo(f"outranks  {', '.join(result['outranked'])} (also matching, tried after it)")
    if not result["execution"]:
        signals = ", ".join(f"{kind}: {step['kind']} {step['channel']} {step['level']}"
                            for kind, step in result["group_signals"].items())
        click.echo("recovery  none: nothing to call for this event, so no execution starts; its group signals "
                   + (signals or "nothing (the plan's signals: section is empty)"))
    click.echo(f"delays    drawn with --seed {result['seed']}; every attempt is assumed to fail")
    for row in result["steps"]:
        click.echo()
        _print_step(row)
    if loaded.spec.steps[-1].kind != "dead_letter":
        click.echo(f"\nwhen every step is done: {'dead letter' if plan['on_exhausted'] == 'dead_letter' else 'failed'}")


def _print_step(row: dict[str, Any]) -> None:
    head = f"step {row['step']}  {row['kind']}"
    if "policy" not in row:
        extra = {"notify": f"channel {row.get('channel')}, level {row.get('level')}",
                 "escalate": f"channel {row.get('channel')}, level {row.get('level')}",
                 "dead_letter": "the execution stops here, kept as a dead letter"}.get(row["kind"], "")
        click.echo(f"{head}  {extra}".rstrip())
        return
    if row.get("skipped"):
        click.echo(f"{head}  skipped: {row['skipped']}")
        return
    policy = row["policy"]
    click.echo(f"{head}  {row.get('target') or '-'}  "
               f"(up to {policy['max_attempts']} attempts, {_JITTER[policy['jitter']]})")
    waits = zip(row["delays_s"], row["delay_bounds_s"], strict=True)
    emit_table(([f"  {number}", f"{delay:g} s", _bounds_text(low, high, policy["jitter"])]
                for number, (delay, (low, high)) in enumerate(waits, start=1)),
               ["  attempt", "waits", "bounds"])
    if policy["honour_retry_after"]:
        click.echo(f"  a Retry-After answer replaces a shorter wait, up to {policy['max_retry_after_s']:g} s")


def _bounds_text(low: float, high: float, jitter: str) -> str:
    if high == 0:
        return "starts at once"
    if jitter == "none":
        return f"= {high:g} s ({_JITTER[jitter]})"
    if jitter == "full":
        return f"≤ {high:g} s ({_JITTER[jitter]})"
    return f"{low:g}–{high:g} s ({_JITTER[jitter]})"


def _short(text: str | None, limit: int = 80) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
