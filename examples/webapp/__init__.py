"""A small customer web app wired to Prove the way Prove's guides and starter kits wire it.

The backend (starlette) holds the client credentials, starts a Verified Users flow with `/v3/verify`
and reads the outcome with `/v3/verify-status`. The page loads the official Web SDK
(`@prove-identity/prove-auth`, from node_modules) and runs OTP on mobile, Instant Link on desktop.
Point it at the emulator and it needs no internet:

    prove-emulator &
    python -m examples.webapp --emulator http://127.0.0.1:7768

The page logs what it saw in `window.__events`, so browser tests can assert it (tests/browser).
"""
