"""Modal dialogs of the kiosk: sign in with a PIN, pick from a list, type a note, and
the list of every key."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from cellctl.tui.kiosk.widgets import key_chip


class PinDialog(ModalScreen[tuple[str, str] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("[b]Sign in with a PIN[/b]")
            yield Input(placeholder="badge id, e.g. OP-ADA", id="badge")
            yield Input(placeholder="PIN", password=True, id="pin")
            yield Label("Enter moves on and signs in. Esc cancels.", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#badge", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "badge":
            self.query_one("#pin", Input).focus()
            return
        badge = self.query_one("#badge", Input).value.strip()
        pin = self.query_one("#pin", Input).value.strip()
        self.dismiss((badge, pin))

    def action_cancel(self) -> None:
        self.dismiss(None)


class PickDialog(ModalScreen[str | None]):
    """Pick one value from a short list, with the arrow keys and Enter (or 1-9)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, options: list[tuple[str, str]], hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.options = options
        self.hint = hint or "Up/Down and Enter to choose, 1-9 for the numbered line, Esc cancels."

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"[b]{self.title_text}[/b]")
            yield OptionList(
                *[
                    Option(f"{i}. {label}" if i < 10 else label, id=value)
                    for i, (value, label) in enumerate(self.options, start=1)
                ],
                id="choices",
            )
            yield Label(self.hint, classes="hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_key(self, event) -> None:  # noqa: ANN001 - textual's Key event
        if event.character and event.character.isdigit() and event.character != "0":
            index = int(event.character) - 1
            if index < len(self.options):
                event.stop()
                self.dismiss(self.options[index][0])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class NoteDialog(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, placeholder: str = "", allow_empty: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.allow_empty = allow_empty

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"[b]{self.title_text}[/b]")
            yield Input(placeholder=self.placeholder, id="note")
            hint = "Enter to confirm" + (" (empty is fine)" if self.allow_empty else "")
            yield Label(hint + ". Esc cancels.", classes="hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value and not self.allow_empty:
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class KeysDialog(ModalScreen[None]):
    """Every key of this cell, in two columns: the key bar shows only the first ones."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close"),
        Binding("question_mark", "close", "Close"),
    ]

    def __init__(self, entries: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        chips = [key_chip(key, text) for key, text, _ in self.entries]
        half = (len(chips) + 1) // 2
        width = max((cells for _, cells in chips[:half]), default=0) + 3
        rows = []
        for i in range(half):
            left, cells = chips[i]
            right = chips[i + half][0] if i + half < len(chips) else ""
            rows.append(left + " " * (width - cells) + right)
        with Vertical(classes="dialog"):
            yield Label("[b]Keys at this cell[/b]")
            yield Static(
                "Scan your badge to sign in; scan a run ticket, unit or batch label at any time."
            )
            yield Static("\n".join(rows), id="keys")
            yield Label("Esc, Enter or ? closes.", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
