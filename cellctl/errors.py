"""Errors that carry a message meant for a person, not a traceback."""


class CliError(Exception):
    """An error to show the person at the terminal, without a traceback."""


class ConfigError(Exception):
    """A config file has problems; `problems` lists every one of them."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))
