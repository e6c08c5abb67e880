from tests.bus.conftest import factory  # noqa: F401  (the same real-broker factory)
