"""The unit tests' hooks: the preflight plays start in the background once the run has collected their tests."""

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any(item.path.name == "test_preflight.py" for item in session.items):
        from tests.unit import preflight_plays

        preflight_plays.start(session.config)
