"""Issue 10, finding 3 in the monitor: a pipeline thread that dies ends the app with status 1 (and the
command prints one line), never a monitor that goes on showing rounds it no longer stores."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from qostui.pipeline import Pipeline
from qostui.store import Store
from qostui.ui.app import QostuiApp
from ui.helpers import live_config, wait_for


async def test_store_thread_death_ends_the_monitor_with_status_1(db_path: Path) -> None:
    config = live_config(db_path, "127.0.0.1")
    # past validation on purpose: a value that makes the store's batching thread die
    config = dataclasses.replace(config, store=dataclasses.replace(config.store, flush_interval_s=math.inf))
    pipeline = Pipeline(config)
    app = QostuiApp(config, pipeline=pipeline, remember_theme=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.return_code is not None, 30, "the app to end by itself")
    finally:
        app.stop_pipeline()
    assert app.return_code == 1
    assert app.failure is not None and "the store thread stopped" in app.failure
    message, status = pipeline.stop_summary()
    assert status == 1 and "the store thread stopped" in message
    with Store(db_path) as store:  # what the dead thread held was written at stop
        assert len({r.ts for r in store.ping_rounds()}) == pipeline.collector.rounds_done >= 1
