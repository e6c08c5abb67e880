"""What the CLI's peers send the scheduler over the bus: run submissions and supervisor
commands (prioritise, cancel, release a hold). One place that shapes and publishes them,
used by the board and the HTTP API, so the scheduler sees one kind of message whoever
sent it (and checks the badge's role again itself)."""

from __future__ import annotations

from typing import Any

import aiomqtt

from cellctl.bus.codec import PAYLOAD_VERSION, encode
from cellctl.bus.topics import Topics
from cellctl.domain.run_spec import RunSpec


class CommandInvalid(ValueError):
    """A command that the scheduler would drop; the text says why."""


def command_payload(action: str, badge: str, **fields: Any) -> dict[str, Any]:
    """The body of a scheduler command, checked for the shape the scheduler needs."""
    if action not in ("prioritise", "cancel", "release_hold"):
        raise CommandInvalid(f"unknown action {action!r}")
    if not badge:
        raise CommandInvalid("a command names the badge of the person who gives it")
    if action in ("prioritise", "cancel") and not fields.get("run_id"):
        raise CommandInvalid(f"{action} needs a run id")
    if action == "prioritise":
        prio = fields.get("priority")
        if not isinstance(prio, int) or isinstance(prio, bool):
            raise CommandInvalid("priority must be a whole number")
    if action == "release_hold" and not fields.get("batch"):
        raise CommandInvalid("release_hold needs a batch")
    return {"v": PAYLOAD_VERSION, "action": action, "badge": badge, **fields}


def submit_payload(spec: RunSpec) -> dict[str, Any]:
    """A run for `runs/submit`, in the form `parse_run` reads back."""
    return {"v": PAYLOAD_VERSION, **spec.to_dict()}


async def publish_command(client: aiomqtt.Client, topics: Topics, body: dict[str, Any]) -> None:
    await client.publish(topics.scheduler_command, encode(body), qos=1, timeout=5.0)


async def publish_submit(client: aiomqtt.Client, topics: Topics, spec: RunSpec) -> None:
    await client.publish(topics.runs_submit, encode(submit_payload(spec)), qos=1, timeout=5.0)
