"""Prefect tasks: thin, typed wrappers around mira_core that move paths, not frames."""
