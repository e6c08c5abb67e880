-- OEE by the book (ISO 22400-2) needs, besides the sums, when a cell was running and
-- counts by count time: an undo takes its units off at the time of the count it undoes.
-- `undoes` is the id of the count an undo names; `counted` the time of that count once
-- the historian holds it (NULL for a count, and for an undo whose count is not known,
-- which then counts at its own time).
ALTER TABLE tallies ADD COLUMN undoes TEXT;
ALTER TABLE tallies ADD COLUMN counted TEXT;
UPDATE tallies SET undoes = (
    SELECT CAST(json_extract(e.payload, '$.undoes') AS TEXT) FROM events e WHERE e.ev = tallies.ev
) WHERE kind = 'c' AND ev IN (SELECT ev FROM events WHERE type = 'count_undone');
UPDATE tallies SET counted = (
    SELECT e.time FROM events e
    WHERE e.id = tallies.undoes AND e.cell = tallies.cell AND e.type = 'units_counted'
) WHERE undoes IS NOT NULL;
-- Undos counted at another time than their own: taken off where they were, added where
-- their count is (rare rows, so small indexes).
CREATE INDEX tallies_moved_time ON tallies (cell, time) WHERE counted IS NOT NULL;
CREATE INDEX tallies_moved_counted ON tallies (cell, counted) WHERE counted IS NOT NULL;
-- Undos whose count has not come in yet (it may, after a gap re-ask).
CREATE INDEX tallies_undo_pending ON tallies (undoes) WHERE undoes IS NOT NULL AND counted IS NULL;
-- A cell's state changes around a report's period: when it was running.
CREATE INDEX events_cell_state ON events (cell, time, seq) WHERE type = 'state_changed';
