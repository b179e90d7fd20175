"""The command line's progress display stays in its process when trials train elsewhere."""

from __future__ import annotations

import io

import cloudpickle
from rich.console import Console

import flows.feature_selection as flow_module
import pipeline.machine as relay_module
from flows.display import RoundProgress
from pipeline.machine import ProgressRelay


def test_shipping_the_flow_and_its_tasks_leaves_the_terminal_display_behind():
    display = RoundProgress(True, Console(file=io.StringIO(), force_terminal=True))
    # Prefect pickles a flow's modules by value when the other side may not import them; then
    # every module global the tasks' code refers to is pickled with them
    modules = (flow_module, relay_module)
    for module in modules:
        cloudpickle.register_pickle_by_value(module)
    try:
        with display, flow_module._PROGRESS.showing(display):
            # a live display: a console with a lock, a refresh thread
            assert flow_module._PROGRESS.displays == (display,)
            task = cloudpickle.loads(cloudpickle.dumps(flow_module.train_trial_group))
            cloudpickle.dumps(flow_module.feature_selection)
            shipped = cloudpickle.loads(cloudpickle.dumps(flow_module._PROGRESS))
    finally:
        for module in modules:
            cloudpickle.unregister_pickle_by_value(module)
    assert task.name == "train_trial_group"
    assert isinstance(shipped, ProgressRelay) and shipped.displays == ()
    assert flow_module._PROGRESS.displays == ()


def test_the_relay_tells_every_display_while_it_is_shown():
    heard = []

    class Display:
        def round_started(self, index, n_channels, epochs):
            heard.append(("round", index))

        def epoch(self, epoch, epochs):
            heard.append(("epoch", epoch))

    relay = ProgressRelay()
    relay.epoch(1, 10)
    with relay.showing(Display()):
        relay.round_started(2, 5, 10)
        relay.epoch(3, 10)
    relay.epoch(4, 10)
    assert heard == [("round", 2), ("epoch", 3)]
