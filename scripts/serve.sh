#!/usr/bin/env bash
# Run Passerelle on its embedded default: SQLite (sqlite://passerelle.db in the repository),
# the console channel (messages are recorded, not sent) and the demo data set, at
# http://127.0.0.1:8000 — the web app and the worker in one process.
#
#   ./scripts/serve.sh                 # first run installs everything into .venv
#   ./scripts/serve.sh --port 8001     # extra arguments go to `passerelle serve`
#
# Configuration comes from the environment and from a .env file in the repository, if any
# (CONTRACT §1); none is needed here.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

if [ -f .env ]; then
  echo "serve: note: ./.env is read too; its values override the embedded defaults" >&2
fi
exec .venv/bin/passerelle serve --demo "$@"
