"""The historian on PostgreSQL (psycopg 3): a site that outgrows SQLite, or several
sites in one database (one schema per site, through the URL's `options`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import psycopg

from cellctl.domain.events import Event
from cellctl.historian.keys import keys_of, run_of, tally_of
from cellctl.historian.store import HistorianStore


class PostgresStore(HistorianStore):
    backend = "postgres"
    placeholder = "%s"

    def json_text(self, key: str) -> str:
        return f"(payload::jsonb ->> '{key}')"

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.target, autocommit=True, connect_timeout=5)

    def describe(self) -> str:
        # Never echo a password given in the URL.
        try:
            info = psycopg.conninfo.conninfo_to_dict(self.target)
        except psycopg.ProgrammingError:
            return "PostgreSQL"
        where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}"
        return f"PostgreSQL {where}/{info.get('dbname', '')}"

    def _unavailable(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

    def _insert_events(self, rows: list[tuple[Any, ...]]) -> list[int | None]:
        cur = self.conn.cursor()
        cur.executemany(
            "INSERT INTO events (id, cell, seq, type, time, operator, payload, run_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING ev",
            rows,
            returning=True,
        )
        out: list[int | None] = []
        while True:
            got = cur.fetchone()
            out.append(got[0] if got else None)
            if not cur.nextset():
                break
        return out

    def bulk_load(self, events: Iterable[Event], *, batch: int = 50_000) -> int:
        """COPY in chunks, each chunk one transaction."""
        total = 0
        cells: set[str] = set()
        chunk: list[Event] = []

        def flush() -> None:
            start = (
                self.conn.execute(
                    "SELECT setval('events_ev', nextval('events_ev') + %s - 1)", (len(chunk),)
                ).fetchone()[0]
                - len(chunk)
                + 1
            )
            with self.conn.transaction(), self.conn.cursor() as cur:
                with cur.copy(
                    "COPY events (ev, id, cell, seq, type, time, operator, payload, run_id) "
                    "FROM STDIN"
                ) as copy:
                    for i, e in enumerate(chunk):
                        copy.write_row(
                            (start + i, e.id, e.cell, e.seq, e.type, e.time, e.operator,
                             json.dumps(e.payload), run_of(e.payload))
                        )  # fmt: skip
                with cur.copy(
                    "COPY tallies (ev, cell, time, kind, run_id, step, code, good, scrap, "
                    "reworked, n, undoes) FROM STDIN"
                ) as copy:
                    for i, e in enumerate(chunk):
                        tally = tally_of(e.type, e.payload)
                        if tally is not None:
                            copy.write_row((start + i, e.cell, e.time, *tally))
                with cur.copy("COPY event_keys (kind, key, ev) FROM STDIN") as copy:
                    for i, e in enumerate(chunk):
                        for kind, key in keys_of(e.payload):
                            copy.write_row((kind, key, start + i))
            chunk.clear()

        for e in events:
            chunk.append(e)
            cells.add(e.cell)
            total += 1
            if len(chunk) >= batch:
                flush()
        if chunk:
            flush()
        with self.conn.transaction():
            for cell in sorted(cells):
                self._advance_hwm(cell)
            self._place_undos()
        self.conn.execute("VACUUM ANALYZE events")
        self.conn.execute("VACUUM ANALYZE event_keys")
        self.conn.execute("VACUUM ANALYZE tallies")
        return total
