#!/usr/bin/env bash
# Herald's test command (the README's second command; CI runs exactly this).
# It checks for the tools the black-box tests drive, installs what comes from a registry
# (the Python CloudEvents SDK), and fails clearly when something is missing.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v kubectl >/dev/null 2>&1 && [ -z "${KUBECTL:-}" ]; then
  echo "test.sh: kubectl is required: the tests drive Herald with the real kubectl." >&2
  echo "  Install it (e.g. 'apt-get install kubectl' from the Kubernetes apt repository, or a release binary) or set KUBECTL=/path/to/kubectl." >&2
  exit 1
fi

# The Python CloudEvents SDK (PyPI `cloudevents`) sends events in the black-box tests.
# It lives in a virtualenv next to the build cache so repeated runs reuse it.
if [ -z "${HERALD_TEST_PYTHON:-}" ]; then
  if ! command -v python3 >/dev/null 2>&1; then
    echo "test.sh: python3 is required (the tests send events with the Python CloudEvents SDK)." >&2
    exit 1
  fi
  venv="${CARGO_TARGET_DIR:-target}/herald-test-venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import cloudevents, requests' 2>/dev/null; then
    python3 -m venv "$venv" || { echo "test.sh: cannot create a Python virtualenv in $venv (install python3-venv)" >&2; exit 1; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'cloudevents==1.11.0' 'requests>=2.31,<3' \
      || { echo "test.sh: cannot install the Python CloudEvents SDK from PyPI (pip install cloudevents==1.11.0 requests)" >&2; exit 1; }
  fi
  HERALD_TEST_PYTHON="$(cd "$(dirname "$venv/bin/python")" && pwd)/python"
  export HERALD_TEST_PYTHON
fi

cargo test --workspace --locked "$@"
