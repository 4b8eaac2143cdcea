# shellcheck shell=bash
# Start and stop a throw-away Label Studio server for the integration tests.
#
#   source scripts/label_studio.sh
#   ls_start        # exports LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY
#   ...             # run the tests
#   ls_stop         # kills the server by its PID and removes its temporary data dir
#
# Label Studio pins its own label-studio-sdk and Django, so it lives in its own virtual environment
# (.venv-ls in the repository, created and reused here), never in the project's.
# Settings (override before calling ls_start):
#   LS_VERSION       pip requirement spec      (default: 1.23.*)
#   LS_VENV          venv path                 (default: <repo>/.venv-ls)
#   LS_PYTHON        python to build the venv  (default: python3)
#   LS_START_TIMEOUT seconds to wait for /health (default: 300; the first start runs migrations, ~35 s)

_ls_repo() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

_ls_free_port() {
  "${1:-python3}" - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

ls_start() {
  local repo venv version timeout py port tmp log url waited
  repo=$(_ls_repo)
  venv=${LS_VENV:-$repo/.venv-ls}
  version=${LS_VERSION:-1.23.*}
  timeout=${LS_START_TIMEOUT:-300}
  py=${LS_PYTHON:-python3}

  if [ ! -x "$venv/bin/label-studio" ]; then
    echo "ls_start: installing label-studio==$version into $venv (once; reused afterwards)" >&2
    if [ ! -x "$venv/bin/python" ]; then
      "$py" -m venv "$venv" || { echo "ls_start: cannot create $venv" >&2; return 1; }
    fi
    "$venv/bin/python" -m pip install -q --upgrade pip >&2 || return 1
    "$venv/bin/python" -m pip install -q "label-studio==$version" >&2 \
      || { echo "ls_start: pip install label-studio==$version failed" >&2; return 1; }
  fi

  port=$(_ls_free_port "$venv/bin/python")
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/w2s-label-studio.XXXXXX")
  log="$tmp/label-studio.log"
  export LS_TMPDIR="$tmp" LS_LOG="$log"
  export LABEL_STUDIO_USERNAME=${LABEL_STUDIO_USERNAME:-w2s@example.com}
  export LABEL_STUDIO_PASSWORD=${LABEL_STUDIO_PASSWORD:-w2s-test-password}
  export LABEL_STUDIO_USER_TOKEN=${LABEL_STUDIO_USER_TOKEN:-w2stesttoken0123456789abcdef0123456789ab}

  # The server gets its settings from the environment of its own process only.
  (
    export LABEL_STUDIO_BASE_DATA_DIR="$tmp/data"
    export DATABASE_NAME="$tmp/label_studio.sqlite3"
    export LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true
    export LATEST_VERSION_CHECK=false
    export ML_BLOCK_LOCAL_IP=false
    export SSRF_PROTECTION_ENABLED=false
    export LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=false
    exec "$venv/bin/label-studio" start --no-browser --internal-host 127.0.0.1 --port "$port" \
      --data-dir "$tmp/data" --username "$LABEL_STUDIO_USERNAME" --password "$LABEL_STUDIO_PASSWORD" \
      --user-token "$LABEL_STUDIO_USER_TOKEN" --enable-legacy-api-token --log-level WARNING
  ) >"$log" 2>&1 &
  LS_PID=$!
  export LS_PID
  url="http://127.0.0.1:$port"
  echo "ls_start: Label Studio (pid $LS_PID) starting at $url; log $log" >&2

  waited=0
  while true; do
    if "$venv/bin/python" - "$url/health" <<'PY' 2>/dev/null; then
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
      break
    fi
    if ! kill -0 "$LS_PID" 2>/dev/null; then
      echo "ls_start: Label Studio exited before answering /health; its log:" >&2
      cat "$log" >&2
      return 1
    fi
    if [ "$waited" -ge "$timeout" ]; then
      echo "ls_start: Label Studio did not answer $url/health within ${timeout}s; its log:" >&2
      cat "$log" >&2
      ls_stop
      return 1
    fi
    sleep 2
    waited=$((waited + 2))
  done
  export LABEL_STUDIO_URL="$url"
  export LABEL_STUDIO_API_KEY="$LABEL_STUDIO_USER_TOKEN"
  echo "ls_start: Label Studio is up at $LABEL_STUDIO_URL after ~${waited}s" >&2
}

ls_stop() {
  if [ -n "${LS_PID:-}" ] && kill -0 "$LS_PID" 2>/dev/null; then
    kill "$LS_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 20); do
      kill -0 "$LS_PID" 2>/dev/null || break
      sleep 0.5
    done
    kill -9 "$LS_PID" 2>/dev/null || true
    wait "$LS_PID" 2>/dev/null || true
  fi
  if [ -n "${LS_TMPDIR:-}" ] && [ -d "$LS_TMPDIR" ]; then
    rm -rf "$LS_TMPDIR"
  fi
  unset LS_PID LS_TMPDIR LABEL_STUDIO_URL LABEL_STUDIO_API_KEY
}
