"""Fixtures: a victoria-metrics server (shared, or the test's own to stop and restart) and an HTTP stub."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import need
from integration.vm import VM_BINARY, StubServer, VictoriaMetrics


@pytest.fixture(scope="session")
def vm_binary() -> str:
    path = shutil.which(VM_BINARY)
    need(path is not None, f"needs the '{VM_BINARY}' command (apt-get install victoria-metrics)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def victoria(vm_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """A victoria-metrics shared by the tests that do not stop it (tests use their own host tag)."""
    vm = VictoriaMetrics(vm_binary, tmp_path_factory.mktemp("vm-shared") / "data")
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


@pytest.fixture
def fresh_victoria(vm_binary: str, tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A victoria-metrics of the test's own, which the test may stop and start again."""
    vm = VictoriaMetrics(vm_binary, tmp_path / "vm-data")
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


@pytest.fixture
def stub_server() -> Iterator[type[StubServer]]:
    yield StubServer
