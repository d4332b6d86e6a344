"""Wiring: the command line, the Faust app, Kafka topics, metrics and drivers. No detection logic."""


def version() -> str:
    """The installed telltales version (for findings' metadata, build info and --version)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("telltales")
    except PackageNotFoundError:
        return "0+unknown"
