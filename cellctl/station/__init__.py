"""The cell's own application: the controller, its runtime, the QA flow and holds."""
