"""Run a test on both paths of tracker.tuning._optuna_compat: Optuna's internals and its public API.

Use the ``optuna_path`` fixture (import it into the test module): its ``"internals"`` case
forces the fast paths on, its ``"public"`` case forces every function onto Optuna's public
API, as on an Optuna release the adapter was not verified against.
"""

from __future__ import annotations

import pytest

from tracker.tuning import _optuna_compat as compat

from .conftest import IN_CI


@pytest.fixture(params=["internals", "public"])
def optuna_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``"internals"`` or ``"public"``: which path every adapter function takes in this test."""
    if request.param == "internals":
        usable, reason = compat.internals_usable()
        if not usable:
            message = (
                f"{reason}. Read the internals listed in tracker/tuning/_optuna_compat.py "
                "against this release, then add it to VERIFIED_RELEASES"
            )
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
    monkeypatch.setattr(compat, "INTERNALS", request.param == "internals")
    return str(request.param)
