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

# The Python CloudEvents SDK (PyPI `cloudevents`) sends events in the black-box tests; moto
# (PyPI `moto[server]`, with boto3) is the SQS server the AwsSqsSource tests run against.
# It lives in a virtualenv next to the build cache so repeated runs reuse it.
if [ -z "${HERALD_TEST_PYTHON:-}" ]; then
  if ! command -v python3 >/dev/null 2>&1; then
    echo "test.sh: python3 is required (the tests send events with the Python CloudEvents SDK)." >&2
    exit 1
  fi
  venv="${CARGO_TARGET_DIR:-target}/herald-test-venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import cloudevents, requests, moto.server, boto3' 2>/dev/null; then
    python3 -m venv "$venv" || { echo "test.sh: cannot create a Python virtualenv in $venv (install python3-venv)" >&2; exit 1; }
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'cloudevents==1.11.0' 'requests>=2.31,<3' 'moto[server]==5.2.5' \
      || { echo "test.sh: cannot install the tests' Python packages from PyPI (cloudevents==1.11.0, requests, moto[server]==5.2.5)" >&2; exit 1; }
  fi
  HERALD_TEST_PYTHON="$(cd "$(dirname "$venv/bin/python")" && pwd)/python"
  export HERALD_TEST_PYTHON
fi

# Message brokers the source tests consume from (issue 8): the project's machines run them on
# their standard ports; start one that is down with the machine's own command, else fail clearly.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
need_service() { # name port start-command...
  local name=$1 port=$2; shift 2
  port_open "$port" && return 0
  echo "test.sh: $name is not listening on 127.0.0.1:$port; starting it" >&2
  "$@" >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do port_open "$port" && return 0; sleep 1; done
  echo "test.sh: $name is required on 127.0.0.1:$port for the source tests and could not be started (tried: $*)" >&2
  exit 1
}
need_service Redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
need_service RabbitMQ 5672 rabbitmq-server -detached
need_service "NATS (JetStream)" 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server

# The GcpPubSubSource tests start Google's Pub/Sub emulator (gcloud, its pubsub-emulator
# component, Java 11+), which the machine image ships.
if ! command -v gcloud >/dev/null 2>&1 || [ ! -d "$(dirname "$(readlink -f "$(command -v gcloud)")")/../platform/pubsub-emulator" ]; then
  apt-get install -y -qq google-cloud-cli-pubsub-emulator >/dev/null 2>&1 || true
fi
if ! command -v gcloud >/dev/null 2>&1 || [ ! -d "$(dirname "$(readlink -f "$(command -v gcloud)")")/../platform/pubsub-emulator" ] || ! command -v java >/dev/null 2>&1; then
  echo "test.sh: the Pub/Sub emulator is required for the GcpPubSubSource tests: install gcloud with the Debian package google-cloud-cli-pubsub-emulator and Java 11 or later" >&2
  exit 1
fi

# The KafkaSource tests start their own Kafka-protocol broker, tansu (pure Rust, in-memory
# storage), on a free port per test.
if [ -z "${HERALD_TEST_TANSU:-}" ]; then
  HERALD_TEST_TANSU="$(command -v tansu 2>/dev/null || true)"
  [ -n "$HERALD_TEST_TANSU" ] || [ ! -x "$HOME/.cargo/bin/tansu" ] || HERALD_TEST_TANSU="$HOME/.cargo/bin/tansu"
  if [ -z "$HERALD_TEST_TANSU" ]; then
    echo "test.sh: installing tansu 0.6.0 for the KafkaSource tests (cargo install; ~16 minutes on 2 cores)" >&2
    cargo install tansu@0.6.0 --locked --no-default-features --features dynostore \
      || { echo "test.sh: the KafkaSource tests need tansu 0.6.0: cargo install tansu@0.6.0 --locked --no-default-features --features dynostore" >&2; exit 1; }
    HERALD_TEST_TANSU="$HOME/.cargo/bin/tansu"
  fi
  export HERALD_TEST_TANSU
fi

cargo test --workspace --locked "$@"
