"""The demo: a whole floor on one computer, laid out as the real one, with simulated people
and cells."""
