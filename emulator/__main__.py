"""`python -m emulator`, and the `prove-emulator` command: emulator.cli's main, imported with the
cyclic garbage collector paused."""

from __future__ import annotations

import gc


def run() -> int:
    # Importing the emulator makes ~60,000 objects (modules, classes, functions) that live as long as
    # the process. The collector walked them ~80 times meanwhile, and again at each full collection
    # after (one at ready, emulator/server.py): ~70 ms of a start-up, to free ~600 objects. Frozen,
    # they are out of its reach (those ~600 stay).
    gc.disable()
    try:
        from emulator.cli import main
    finally:
        gc.freeze()
        gc.enable()
    return main()


if __name__ == "__main__":
    raise SystemExit(run())
