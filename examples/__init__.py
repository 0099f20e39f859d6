"""Example integrations that run against the emulator instead of Prove's sandbox."""
