#!/usr/bin/env bash
# Bootstrap the project's virtualenv (.venv) — idempotent and quiet.
#
#   scripts/setup.sh          (or `source scripts/setup.sh`)
#
# * creates .venv with Python 3.11+ when it is missing (or broken);
# * runs `pip install -e '.[dev]'` only when pyproject.toml changed since the last successful
#   install: a hash of it (and of the interpreter) is kept in .venv/.passerelle-install-stamp;
# * prints one line when it installs, nothing when there is nothing to do; pip's full output
#   goes to .venv/.passerelle-install.log and is shown only when the install fails.
# Several shells may run it at once: a lock in .venv serialises them.
# scripts/serve.sh and scripts/test.sh call it; nothing else needs to be installed by hand.

_passerelle_setup() (
  set -euo pipefail
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  cd "$root"
  venv="$root/.venv"

  say() { echo "setup: $*" >&2; }

  version_ok() {  # is "$1" a Python 3.11+?
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
  }

  find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3 python3.11 python3.12 python3.13 python; do
      if command -v "$candidate" >/dev/null 2>&1 && version_ok "$candidate"; then
        command -v "$candidate"
        return 0
      fi
    done
    return 1
  }

  if [ ! -x "$venv/bin/python" ] || ! version_ok "$venv/bin/python"; then
    python=$(find_python) || {
      say "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)"
      exit 1
    }
    say "creating .venv with $("$python" -c 'import sys; print(sys.version.split()[0])') ($python)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
  fi

  exec 9>"$venv/.passerelle-setup.lock"
  flock 9

  stamp="$venv/.passerelle-install-stamp"
  want=$( { cat pyproject.toml; "$venv/bin/python" -c 'import sys; print(sys.version)'; } \
          | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/passerelle" ]; then
    exit 0
  fi

  log="$venv/.passerelle-install.log"
  say "installing Python dependencies into .venv (new venv or pyproject.toml changed); log: .venv/.passerelle-install.log"
  export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
  if ! "$venv/bin/python" -m pip install -q -e '.[dev]' >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    say "pip install failed (full log: $log)"
    rm -f "$stamp"
    exit 1
  fi
  echo "$want" >"$stamp"
)

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  _passerelle_setup "$@"   # sourced: return its status, keep the caller's shell options
else
  _passerelle_setup "$@"
  exit $?
fi
