"""prove-emulator: an offline, local emulator of Prove Identity's sandbox."""

__version__ = "0.1.0"
