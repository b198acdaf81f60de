#!/usr/bin/env bash
# Run the whole test suite, twice: on SQLite, then on a throwaway PostgreSQL 15.
#
#   ./scripts/test.sh                          # everything, both databases
#   ./scripts/test.sh tests/crm -k leads -x    # arguments go to pytest (both runs)
#   PASSERELLE_TEST_DB=sqlite ./scripts/test.sh      # only one database
#   PASSERELLE_TEST_DB=postgres ./scripts/test.sh    # (TEST_DATABASE_URL, if set, is used
#                                                    #  instead of starting a server)
#
# It installs what it needs (the .venv via scripts/setup.sh; Debian's chromium for the browser
# tests when running as root) and starts what it needs (PostgreSQL 15 via scripts/pg.sh in a
# mktemp -d directory under /tmp, always stopped on exit). Both runs happen even when the first
# fails; the exit status is non-zero when either failed or ran no test (pytest exit 5).
# .ci/run calls exactly this script.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { echo "test.sh: $*" >&2; }

which_db=${PASSERELLE_TEST_DB:-both}
case "$which_db" in
  both | all | "") run_sqlite=1; run_postgres=1 ;;
  sqlite) run_sqlite=1; run_postgres=0 ;;
  postgres | postgresql | pg) run_sqlite=0; run_postgres=1 ;;
  *) say "PASSERELLE_TEST_DB must be sqlite, postgres or unset (both), not '$which_db'"; exit 2 ;;
esac

work=$(mktemp -d /tmp/passerelle-test.XXXXXX)
pgdir=""
apt_pid=""
cleanup() {
  if [ -s "$work/pytest.pid" ]; then  # interrupted during a run: let pytest tear down, then stop it
    pid=$(cat "$work/pytest.pid")
    for sig in INT TERM KILL; do
      kill -"$sig" "$pid" 2>/dev/null || break
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break 2; sleep 0.2; done
    done
  fi
  if [ -n "$apt_pid" ]; then kill "$apt_pid" 2>/dev/null; wait "$apt_pid" 2>/dev/null; fi
  if [ -n "$pgdir" ]; then "$root/scripts/pg.sh" stop "$pgdir" || say "could not stop PostgreSQL in $pgdir"; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Debian's chromium for the Playwright tests, installed in the background while pip works.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    say "installing Debian chromium for the browser tests (in the background)"
    (
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq chromium
    ) </dev/null >"$work/apt.log" 2>&1 &
    apt_pid=$!
  else
    say "WARNING: /usr/bin/chromium is missing and we are not root: the browser (Playwright)" \
        "tests will be skipped. Install it with: sudo apt-get install chromium"
  fi
fi

# 2. The virtualenv.
if ! ./scripts/setup.sh; then
  say "setting up .venv failed"
  exit 1
fi

if [ -n "$apt_pid" ]; then
  if wait "$apt_pid"; then
    say "chromium installed: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"
  else
    tail -n 20 "$work/apt.log" >&2
    say "WARNING: installing chromium failed: the browser tests will be skipped"
  fi
  apt_pid=""
fi

color=()
[ -t 1 ] && color=(--color=yes)

# Runs pytest once (in the background, so that a signal reaches our trap at once); prints its
# output, records "<label> <exit> <passed> <failed> <errors> <skipped>" in $work/summary.
#   run_suite LABEL ENV-ARGS… -- PYTEST-ARGS…      (ENV-ARGS as for env(1))
run_suite() {
  local label=$1; shift
  local envargs=()
  while [ "$1" != "--" ]; do envargs+=("$1"); shift; done
  shift
  local log="$work/pytest-$label.log" rc
  echo
  echo "======================== test.sh: $label ========================"
  ( trap - INT TERM; echo "$BASHPID" >"$work/pytest.pid"
    exec env "${envargs[@]}" .venv/bin/pytest -rfEs "${color[@]}" "$@"
  ) 2>&1 </dev/null | tee "$log" &
  wait "$!"
  rc=$?
  rm -f "$work/pytest.pid"
  .venv/bin/python - "$label" "$rc" "$log" >>"$work/summary" <<'PY'
import re, sys
label, rc, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
text = re.sub(r"\x1b\[[0-9;]*m", "", open(path, errors="replace").read())
counts = {k: 0 for k in ("passed", "failed", "errors", "skipped")}
final = re.compile(r"(\d+ (passed|failed|errors?|skipped|deselected)|no tests ran).* in [\d.]+s")
lines = [l for l in text.splitlines() if final.search(l)]
if lines:
    for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)", lines[-1]):
        key = {"error": "errors", "xfailed": "skipped", "xpassed": "passed"}.get(word, word)
        counts[key] += int(n)
print(label, rc, counts["passed"], counts["failed"], counts["errors"], counts["skipped"])
PY
}

: >"$work/summary"
if [ "$run_sqlite" = 1 ]; then
  run_suite sqlite -u TEST_DATABASE_URL -- "$@"
fi

if [ "$run_postgres" = 1 ]; then
  pg_url=${TEST_DATABASE_URL:-}
  if [ -n "$pg_url" ] && [[ "$pg_url" == postgres* ]]; then
    say "PostgreSQL: using TEST_DATABASE_URL from the environment"
  else
    pgdir=$(mktemp -d /tmp/passerelle-pg.XXXXXX)
    if pg_url=$(./scripts/pg.sh start "$pgdir"); then
      say "PostgreSQL 15 started: $pg_url"
    else
      say "could not start PostgreSQL (see $pgdir/server.log)"
      [ -f "$pgdir/server.log" ] && tail -n 20 "$pgdir/server.log" >&2
      pg_url=""
      echo "postgresql 97 0 0 0 0" >>"$work/summary"
    fi
  fi
  if [ -n "$pg_url" ]; then
    run_suite postgresql TEST_DATABASE_URL="$pg_url" -- "$@"
  fi
fi

# Summary: one line per database, then one total line in pytest's own words.
echo
echo "======================== test.sh: summary ========================"
status=0
total_passed=0 total_failed=0 total_skipped=0
while read -r label rc passed failed errors skipped; do
  case "$rc" in
    0) verdict="ok" ;;
    5) verdict="FAILED: no test ran (pytest exit 5)"; status=1 ;;
    97) verdict="FAILED: the database server did not start"; status=1 ;;
    *) verdict="FAILED (pytest exit $rc)"; status=1 ;;
  esac
  printf '%-11s %s — %s passed, %s failed, %s errors, %s skipped\n' \
    "$label:" "$verdict" "$passed" "$failed" "$errors" "$skipped"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed + errors))
  total_skipped=$((total_skipped + skipped))
done <"$work/summary"
[ -s "$work/summary" ] || { echo "no test run happened"; status=1; }
echo "total: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit "$status"
