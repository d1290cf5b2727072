"""How the operator starts: ``inferop.operator.run`` hands the settings it is given to the handlers
(nothing is read from the environment at import) and honours ``standalone`` (kopf's peering off or on);
``inferop.handlers.configure`` registers the drift timers with the configured interval, once."""

from __future__ import annotations

import importlib
from typing import Any

import kopf
import pytest

from inferop.settings import Settings


def test_importing_the_handlers_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import inferop.handlers

    monkeypatch.setenv("INFEROP_DRIFT_INTERVAL", "not a number")  # Settings.from_env() would exit
    importlib.reload(inferop.handlers)


def test_run_hands_over_the_settings_and_honours_standalone(monkeypatch: pytest.MonkeyPatch) -> None:
    import inferop.handlers
    import inferop.operator

    seen: list[dict[str, Any]] = []
    configured: list[Settings] = []

    async def fake_operator(**kwargs: Any) -> None:
        seen.append(kwargs)

    monkeypatch.setattr(kopf, "operator", fake_operator)
    monkeypatch.setattr(kopf, "configure", lambda **_: None)
    monkeypatch.setattr(inferop.handlers, "configure", configured.append)
    settings = Settings(prometheus_url="http://prom:9090", metrics_port=9999)
    assert inferop.operator.run(settings, standalone=False) == 0
    assert inferop.operator.run(settings, namespaces=["team-a"]) == 0
    assert configured == [settings, settings]
    assert [(k["standalone"], k["clusterwide"], k["namespaces"]) for k in seen] == [
        (False, True, []),
        (True, False, ["team-a"]),
    ]


def test_configure_registers_the_drift_timers_with_their_interval_once() -> None:
    import inferop.handlers as handlers

    importlib.reload(handlers)  # a fresh module: no timers yet
    handlers.configure(Settings(drift_interval=47))
    timers = [
        h for h in kopf.get_default_registry()._spawning.get_all_handlers()
        if getattr(h, "interval", None) == 47
    ]
    assert {h.fn.__name__ for h in timers} == {"repair_drift", "tenant_drift"}
    handlers.configure(Settings(drift_interval=47, workers=2))  # the same interval: fine
    with pytest.raises(RuntimeError, match="every 47 s"):
        handlers.configure(Settings(drift_interval=60))
