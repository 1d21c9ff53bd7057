"""The `leadrelay` command line. Each command group lives in its own module with a ``register(app)``."""

from leadrelay.cli.main import app

__all__ = ["app"]
