"""Errors that carry a message meant for a person, not a traceback."""


class CliError(Exception):
    """An error to show the person at the terminal, without a traceback."""


class ConfigError(Exception):
    """A config file has problems; `problems` lists every one of them."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))

    def describe(self) -> str:
        """One line for one problem; else the file, then its problems as an indented block."""
        if len(self.problems) == 1:
            return f"{self.path}: {self.problems[0]}"
        return f"{self.path}: {len(self.problems)} problems\n" + "\n".join(
            f"  {p}" for p in self.problems
        )


def error_text(command: str, message: str) -> str:
    """`cellctl COMMAND: message` on one line; the lines after the first, if any, indented
    under it (never the prefix alone on a line with the message below it)."""
    lines = [line.rstrip() for line in message.splitlines() if line.strip()]
    if not lines:
        return f"cellctl {command}: failed (no reason given)"
    rest = [line if line.startswith("  ") else f"  {line}" for line in lines[1:]]
    return "\n".join([f"cellctl {command}: {lines[0]}", *rest])
