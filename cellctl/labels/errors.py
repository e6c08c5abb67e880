"""Errors of the label subsystem, each with a message meant for a person."""

from __future__ import annotations


class LabelError(Exception):
    """Something about a label, a template or a printer that a person must fix."""


class TemplateError(LabelError):
    """A template is wrong; the message names the template, the element and the problem."""

    def __init__(self, template: str, problems: list[str]) -> None:
        self.template = template
        self.problems = problems
        super().__init__("\n".join(f"template {template}: {p}" for p in problems))


class KeyFileError(LabelError):
    """A signing or public key file is missing, malformed or too open."""


class KeyTooOpenError(KeyFileError):
    """The signing key can be read by other users: the kiosk refuses to start."""


class PrinterError(LabelError):
    """The printer cannot take the job now; `message` is what the operator should do."""
