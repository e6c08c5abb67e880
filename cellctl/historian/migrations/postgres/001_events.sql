-- Every event of the site, once. `ev` is the historian's own row number; `id` the
-- event's global id (a duplicate is dropped on it); (cell, seq) the cell's sequence.
CREATE TABLE events (
    ev BIGINT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    cell TEXT NOT NULL,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    time TEXT NOT NULL,
    operator TEXT,
    payload TEXT NOT NULL,
    -- The payload's run_id as text (a run's span and cells in a report).
    run_id TEXT,
    UNIQUE (cell, seq)
);
CREATE SEQUENCE events_ev OWNED BY events.ev;
ALTER TABLE events ALTER COLUMN ev SET DEFAULT nextval('events_ev');
-- A cell's events over a period (reports, machine events during a step); with run_id,
-- a report's runs are read from the index alone.
CREATE INDEX events_cell_time ON events (cell, time, run_id);
-- The downtime open at the start of a report's period.
CREATE INDEX events_cell_downtime ON events (cell, time)
    WHERE type IN ('downtime_started', 'downtime_ended');
-- What an event names: s serial, b batch, r run, n non-conformance report. A serial's
-- genealogy, a batch's units and a run's history are lookups here, whatever the history.
CREATE TABLE event_keys (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    ev BIGINT NOT NULL,
    PRIMARY KEY (kind, key, ev)
);
-- Per cell: the contiguous high-water mark and the highest seq stored.
CREATE TABLE cell_seq (
    cell TEXT PRIMARY KEY,
    hwm BIGINT NOT NULL,
    max_seen BIGINT NOT NULL
);
-- The figures a report adds up, one row per counting, defect or completed step event
-- (kind c, d, k): a month's report sums rows of an index range instead of decoding
-- every event. good/scrap/reworked are signed (an undone count is negative); step is
-- the payload's step as JSON, code the defect code, n the defect count.
CREATE TABLE tallies (
    ev BIGINT PRIMARY KEY,
    cell TEXT NOT NULL,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    run_id TEXT,
    step TEXT,
    code TEXT,
    good BIGINT NOT NULL DEFAULT 0,
    scrap BIGINT NOT NULL DEFAULT 0,
    reworked BIGINT NOT NULL DEFAULT 0,
    n BIGINT NOT NULL DEFAULT 0
);
-- Covering: a cell's month is read from the index alone.
CREATE INDEX tallies_cell_time ON tallies (cell, time)
    INCLUDE (kind, run_id, step, code, good, scrap, reworked, n);
