#!/usr/bin/env bash
# Herald's test command (the README's second command; CI runs exactly this).
# It checks for the tools the black-box tests drive and fails clearly when one is missing.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v kubectl >/dev/null 2>&1 && [ -z "${KUBECTL:-}" ]; then
  echo "test.sh: kubectl is required: the tests drive Herald with the real kubectl." >&2
  echo "  Install it (e.g. 'apt-get install kubectl' from the Kubernetes apt repository, or a release binary) or set KUBECTL=/path/to/kubectl." >&2
  exit 1
fi

cargo test --workspace --locked "$@"
