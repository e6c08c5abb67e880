from tests.station.conftest import FakeClock, assignment, clock, cut, demo_dir, make_controller  # noqa: F401
