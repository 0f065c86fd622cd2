"""Learning-rate schedules (in progress)."""

SCHEDULE_MODULES: tuple[str, ...] = ()
__all__: list[str] = []
