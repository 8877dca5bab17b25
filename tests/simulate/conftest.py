"""Real ``deeptrust serve`` processes for the simulator's end-to-end tests (the service's fixtures)."""

from tests.serve.conftest import server_factory  # noqa: F401
