"""Fixtures: a victoria-metrics server (shared, or the test's own to stop and restart) and an HTTP stub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import need_tool
from integration.vm import VM_BINARY, StubServer, VictoriaMetrics


@pytest.fixture(scope="session")
def vm_binary() -> str:
    return need_tool(VM_BINARY)


def _running(binary: str, data_dir: Path) -> Iterator[VictoriaMetrics]:
    vm = VictoriaMetrics(binary, data_dir)
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


@pytest.fixture(scope="session")
def victoria(vm_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """A victoria-metrics shared by the tests that do not stop it (tests use their own host tag)."""
    yield from _running(vm_binary, tmp_path_factory.mktemp("vm-shared") / "data")


@pytest.fixture
def fresh_victoria(vm_binary: str, tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A victoria-metrics of the test's own, which the test may stop and start again."""
    yield from _running(vm_binary, tmp_path / "vm-data")


@pytest.fixture
def stub_server() -> Iterator[type[StubServer]]:
    yield StubServer
