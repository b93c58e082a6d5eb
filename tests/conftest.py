"""Shared fixtures: where the real datasets are, and a fresh workspace per test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("LETHE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The licensed MovieLens copies beside the repo (never committed); skip with a reason if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (set LETHE_SHARED_DATA)")
    return SHARED_DATA


SLOW_MODULES = {
    "test_acceptance_ml100k", "test_adapters", "test_audit", "test_cff", "test_console", "test_crash_recovery",
    "test_erasure_engine", "test_exact_methods_certify", "test_laser", "test_receraser", "test_request_retry",
    "test_scoped_requests", "test_standalone_verifier", "test_verifier_power",
    "test_chaos", "test_concurrent_requests", "test_interrupted_training", "test_witness", "test_worker",
    "test_api",
}
"""Modules that run requests end to end or train on real data (each over ~10 s in a full run on 2 cores): the
fast lane (``pytest -m "not slow"``) leaves them out."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers from what a test uses: ``real_data`` (the licensed copies in ../shared/data), ``browser`` (Chromium),
    ``slow`` (the modules above, and the browser test)."""
    for item in items:
        module = item.path.stem
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_data)
        if module == "test_console_browser":
            item.add_marker(pytest.mark.browser)
        if module in SLOW_MODULES or module == "test_console_browser":
            item.add_marker(pytest.mark.slow)


FAST_BPR = {"epochs": 3, "embedding_size": 16, "batch_size": 1024}


def build_workspace(root: Path, n_users: int = 150, n_items: int = 90, shards: int = 3, seed: int = 0) -> "Services":
    """A workspace with a small synthetic data set and a serving SISA deployment (seconds to build)."""
    from ui.services import open_services
    from unlearn.data import load_source
    from unlearn.ingest import ingest
    from unlearn.methods import MethodSettings, get_method, set_serving
    from unlearn.progress import no_progress

    services = open_services(root)
    ingest(services.ledger, load_source("synthetic", seed=seed, n_users=n_users, n_items=n_items), split_seed=seed)
    deployment = get_method("sisa").fit(
        services.ledger, MethodSettings(method="sisa", shards=shards, seed=seed, model=FAST_BPR), no_progress, "test"
    )
    set_serving(services.ledger, deployment.deployment_id)
    return services


@pytest.fixture(scope="session")
def trained_workspace_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small trained workspace, built once per session; tests get copies (a workspace holds only relative paths)."""
    root = tmp_path_factory.mktemp("template") / "ws"
    build_workspace(root)
    return root


@pytest.fixture
def workspace(tmp_path: Path, trained_workspace_template: Path) -> "Services":
    """A fresh small workspace per test: a copy of the session's trained one (the same data, deployment and keys),
    so each test may change it freely without training its own (~1.5 s each, 170 uses)."""
    from ui.services import open_services

    root = tmp_path / "ws"
    shutil.copytree(trained_workspace_template, root)
    return open_services(root)
