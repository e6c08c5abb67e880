"""The site historian: every cell's events once, indexed, answering the site's questions
over the bus (trace, batches, runs, reports). An application of its own beside the
station, the scheduler and the board; SQLite embedded or PostgreSQL at scale."""
