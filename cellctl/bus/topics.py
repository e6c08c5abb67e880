"""The MQTT topic tree of one site (DESIGN.md), and parsing a cell id back out."""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "cellctl/v1"


@dataclass(frozen=True, slots=True)
class Topics:
    site: str

    @property
    def base(self) -> str:
        return f"{ROOT}/{self.site}"

    def cell_status(self, cell: str) -> str:
        return f"{self.base}/cells/{cell}/status"

    def cell_events(self, cell: str) -> str:
        return f"{self.base}/cells/{cell}/events"

    def cell_assign(self, cell: str) -> str:
        return f"{self.base}/cells/{cell}/assign"

    def cell_resend(self, cell: str) -> str:
        return f"{self.base}/cells/{cell}/resend"

    @property
    def all_status(self) -> str:
        return f"{self.base}/cells/+/status"

    @property
    def all_events(self) -> str:
        return f"{self.base}/cells/+/events"

    @property
    def scheduler_status(self) -> str:
        return f"{self.base}/scheduler/status"

    @property
    def scheduler_queue(self) -> str:
        return f"{self.base}/scheduler/queue"

    @property
    def scheduler_command(self) -> str:
        """Supervisor and QA commands (prioritise, cancel, release a hold); role-checked."""
        return f"{self.base}/scheduler/command"

    @property
    def holds(self) -> str:
        """Retained by the scheduler: the batches on QC hold, and recent releases."""
        return f"{self.base}/holds"

    @property
    def runs_submit(self) -> str:
        return f"{self.base}/runs/submit"

    def site_request(self, what: str) -> str:
        """A question to the site (trace, batch, run, report, status), MQTT 5 request/
        response: the answer goes to the request's response topic with its correlation data."""
        return f"{self.base}/site/request/{what}"

    @property
    def all_site_requests(self) -> str:
        return f"{self.base}/site/request/+"

    def site_reply(self, client_id: str) -> str:
        """Where one asking client hears its answers."""
        return f"{self.base}/site/reply/{client_id}"

    def scheduler_request(self, what: str) -> str:
        """A question or an order to the scheduler (runs, run, submit, import, cancel,
        prioritise), MQTT 5 request/response as for the site's questions."""
        return f"{self.base}/scheduler/request/{what}"

    @property
    def all_scheduler_requests(self) -> str:
        return f"{self.base}/scheduler/request/+"

    @property
    def historian_status(self) -> str:
        return f"{self.base}/historian/status"

    def historian_confirmed(self, cell: str) -> str:
        """Retained by the historian: {"v":1,"hwm":N}, every seq of the cell up to N is
        stored; the cell may prune those once they are old (cellctl/store/pruning.py)."""
        return f"{self.base}/historian/confirmed/{cell}"

    def cell_of(self, topic: str) -> tuple[str, str] | None:
        """(cell, leaf) for a `cells/{cell}/{leaf}` topic of this site, else None."""
        prefix = f"{self.base}/cells/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) != 2 or not parts[0]:
            return None
        return parts[0], parts[1]
