"""2D loss surfaces (in progress)."""

SURFACE_MODULES: tuple[str, ...] = ()
__all__: list[str] = []
