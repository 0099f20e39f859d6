#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs the Python package with its test extras,
# the official Prove SDKs from npm (package-lock.json), and Debian's chromium for the browser tests,
# then runs pytest (extra arguments are passed on, e.g. scripts/test.sh -m "not browser").
set -euo pipefail
cd "$(dirname "$0")/.."

export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
python3 -m pip install --quiet -e '.[test]'
npm ci --no-audit --no-fund --loglevel=error

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "scripts/test.sh: the browser tests need Debian's chromium at /usr/bin/chromium:" >&2
    echo "  run 'apt-get install -y chromium' as root, or pass -m 'not browser' to skip them" >&2
    exit 1
  fi
fi

exec python3 -m pytest "$@"
