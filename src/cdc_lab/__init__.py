"""cdc-lab: clients, waits and pytest fixtures for the local CDC test lab."""

__version__ = "0.1.0"
