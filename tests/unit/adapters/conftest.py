from pathlib import Path

import pytest

from connector.config import Config, load_config

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def config() -> Config:
    """The bundled mappings and rules."""
    return load_config(ROOT)
