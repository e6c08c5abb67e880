"""The supervisor board (Textual)."""
