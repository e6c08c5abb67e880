"""The supervisor's board: the live floor model fed from the bus, and the run queue."""
