"""Built-in strategies (registered through the ``vlmfer`` entry-point group)."""

from __future__ import annotations

from vlmfer.hookspecs import RegisterStrategies, hookimpl


@hookimpl
def register_strategies(register: RegisterStrategies) -> None:
    from vlmfer.strategies.calibrated import Calibrated
    from vlmfer.strategies.free_description import FreeDescription
    from vlmfer.strategies.single_shot import SingleShot, SixClass
    from vlmfer.strategies.two_stage import TwoStage

    for cls in (SingleShot, SixClass, TwoStage, FreeDescription, Calibrated):
        register(cls.name, cls)
