#!/usr/bin/env bash
# Install the test extras (and the system packages they need, through apt) and run the whole
# test suite: ruff, mypy, then arunner's own tests in every env of the matrix, on every
# database (which tests each of these legs runs: below).
#
#   bash scripts/test-all.sh                     # everything (what CI runs, via .ci/run)
#   ARUNNER_DBS=sqlite bash scripts/test-all.sh  # laptop: SQLite only
#   ARUNNER_ENVS=py312-dj61 ...                  # one env of the matrix only
#   ARUNNER_LEG_WORKERS=1 ...                    # each leg serially (default: --parallel 2)
#
# Not every test runs in every leg (env x database). The in-process tests do. The end-to-end
# tests, which start runs of throwaway projects, are tagged by the legs they need:
#   one_db   its subject does not depend on the database: SQLite legs only;
#   one_env  it re-tests the same thing on every Python and Django (the stress tests, the
#            stop matrix), or its subject does not depend on them: the first env only;
#   cross    every database in the first env, SQLite in the others.
# So the first env that runs (py312-dj61 in CI) runs everything on SQLite and everything but
# one_db on the servers; the other envs run all but one_env on SQLite and the in-process tests
# on the servers. `python -m arunner tests --settings tests.settings` alone runs every test.
#
# Venvs live in .venv-ci/<env> and are reused. Every leg's output streams through; the run
# ends with a summary and one line "N passed, N failed, N skipped" summed over all legs. A leg
# that fails without reporting its own failures (crash, lint, install, unreachable DB) counts
# as 1 failed. Exits non-zero if any leg failed or if no test ran at all.
set -euo pipefail
cd "$(dirname "$0")/.."

# name | Python | requirements installed on top of -e .[test]
MATRIX=(
  "py312-dj61|3.12|Django>=6.1,<6.2 asgiref"
  "py311-dj52|3.11|Django>=5.2,<5.3 asgiref==3.13.0"
  "py313-dj60|3.13|Django>=6.0,<6.1 asgiref"
)
APT_PACKAGES=(gcc pkg-config libmariadb-dev)  # mysqlclient builds from source
DBS=${ARUNNER_DBS:-sqlite,postgres,mariadb}
if [[ ${CI:-} == true && $DBS != sqlite,postgres,mariadb ]]; then
  echo "CI=true: ignoring ARUNNER_DBS=$DBS, every database is required"
  DBS=sqlite,postgres,mariadb
fi
export ARUNNER_PG_HOST=${ARUNNER_PG_HOST:-127.0.0.1} ARUNNER_PG_PORT=${ARUNNER_PG_PORT:-5432}
export ARUNNER_MARIADB_HOST=${ARUNNER_MARIADB_HOST:-127.0.0.1}
export ARUNNER_MARIADB_PORT=${ARUNNER_MARIADB_PORT:-3306}
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
LEG_TIMEOUT=${ARUNNER_LEG_TIMEOUT:-1800}  # seconds; a hung leg must not eat CI's 90 minutes
# --parallel workers per leg (CI has two cores; end-to-end tests wait on their runs as much
# as they compute). Not an ARUNNER_* option variable: the projects the tests run inherit those.
LEG_WORKERS=${ARUNNER_LEG_WORKERS:-2}

run_tests() {  # THE test command, run from the repo root inside the env; $1 = database,
  # $2 = 1 in the first env (see the tags above)
  local skip=()
  [[ $1 == sqlite ]] || skip+=(--exclude-tag one_db)
  (( $2 )) || skip+=(--exclude-tag one_env)
  [[ $1 == sqlite ]] || (( $2 )) || skip+=(--exclude-tag cross)
  ARUNNER_TEST_DB=$1 timeout -k 30 "$LEG_TIMEOUT" \
    python -m arunner tests --settings tests.settings -v 2 --parallel "$LEG_WORKERS" "${skip[@]}"
}

lint() { ruff check . && ruff format --check .; }

typecheck() { python -m mypy; }  # what it checks, and how strictly: [tool.mypy] in pyproject.toml

db_ready() {  # $1 = database; fails within seconds when its server does not answer
  [[ $1 == sqlite ]] && return 0
  timeout 30 python - "$1" <<'PY'
import os, sys
db, e = sys.argv[1], os.environ
try:
    if db == "postgres":
        import psycopg
        psycopg.connect(host=e["ARUNNER_PG_HOST"], port=e["ARUNNER_PG_PORT"], user="postgres",
                        dbname="postgres", connect_timeout=5).close()
    else:
        import MySQLdb
        MySQLdb.connect(host=e["ARUNNER_MARIADB_HOST"], port=int(e["ARUNNER_MARIADB_PORT"]),
                        user="root", connect_timeout=5).close()
except Exception as exc:
    sys.exit(f"{db} server unreachable: {type(exc).__name__}: {exc}")
PY
}

install_system_packages() {
  local missing=() p sudo=
  command -v dpkg >/dev/null || { echo "no dpkg: install ${APT_PACKAGES[*]} yourself"; return 0; }
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  (( ${#missing[@]} )) || { echo "already installed: ${APT_PACKAGES[*]}"; return 0; }
  (( EUID == 0 )) || sudo=sudo
  $sudo apt-get update -qq || return 1
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends \
    "${missing[@]}"
}

find_python() {  # $1 = X.Y; prints an interpreter: pyenv's first, then PATH
  local root c; root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for c in "$root"/versions/"$1".*/bin/python"$1" "$(command -v "python$1" || true)"; do
    [[ -x $c ]] && "$c" -V >/dev/null 2>&1 && { echo "$c"; return 0; }
  done
  echo "no Python $1 found (pyenv install $1?)" >&2; return 1
}

setup_env() {  # $1 = venv dir, $2 = X.Y, $3 = extra requirements; reuses a matching venv
  local venv=$1 py=$2 reqs interp; read -ra reqs <<<"$3"
  if [[ $("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' \
          2>/dev/null) != "$py" ]]; then
    interp=$(find_python "$py") || return 1
    rm -rf "$venv" && "$interp" -m venv "$venv" || return 1
  fi
  # (grep: hide this machine's pip-config noise about absent local index folders)
  "$venv/bin/python" -m pip install -q -U -e ".[test]" "${reqs[@]}" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; } || return 1
  "$venv/bin/python" -c 'import sys, django, asgiref
print(f"Python {sys.version.split()[0]}, Django {django.__version__}, asgiref {asgiref.__version__}")'
}

in_env() ( export VIRTUAL_ENV=$1 PATH=$1/bin:$PATH; shift; "$@" )

# --- legs and their bookkeeping ----------------------------------------------------------
LOGS=$(mktemp -d); trap 'rm -rf "$LOGS"' EXIT
SUMMARY=() PASSED=0 FAILED=0 SKIPPED=0 FAILED_LEGS=0

record() {  # name status passed failed skipped seconds note
  SUMMARY+=("$(printf '%-8s %-24s %6s %6s %7s %6ss  %s' "$2" "$1" "$3" "$4" "$5" "$6" "$7")")
  PASSED=$((PASSED + $3)) FAILED=$((FAILED + $4)) SKIPPED=$((SKIPPED + $5))
  [[ $2 == ok ]] || FAILED_LEGS=$((FAILED_LEGS + 1))
}

# leg NAME KIND CMD...: stream CMD's output, then record it. KIND=tests takes its counts from
# the output's last "N passed, N failed[, N skipped]" line; KIND=check counts nothing if ok.
leg() {
  local name=$1 kind=$2 rc=0 start=$SECONDS counts p=0 f=0 s=0 note=; shift 2
  local log=$LOGS/${name//\//_}.log
  printf '\n===== %s =====\n' "$name"
  "$@" </dev/null 2>&1 | tee "$log" || rc=$?
  if [[ $kind == tests ]]; then
    counts=$(sed -E 's/\x1b\[[0-9;]*m//g' "$log" | sed -nE \
      's/^[[:space:]]*([A-Za-z]+:[[:space:]]*)?([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?[[:space:]]*$/\2 \3 \5/p' \
      | tail -n1)
    if [[ -z $counts ]]; then note="no closing count line"
    else read -r p f s <<<"$counts"; s=${s:-0}; (( p + f )) || note="ran no test"; fi
  fi
  (( rc == 0 )) || note="exit $rc${note:+, $note}"
  if [[ -z $note ]] && (( f == 0 )); then
    record "$name" ok "$p" 0 "$s" $((SECONDS - start)) ""
  else
    record "$name" FAILED "$p" $((f > 0 ? f : 1)) "$s" $((SECONDS - start)) "$note"
  fi
}

# not_run NAME NOTE [DETAILS]: a leg that could not run counts as 1 failed
not_run() { printf '\n===== %s =====\n%s\n' "$1" "${3:-$2}"; record "$1" FAILED 0 1 0 0 "$2"; }

# --- the run -----------------------------------------------------------------------------
leg system-packages check install_system_packages
IFS=, read -ra dbs <<<"$DBS"
first=1 full=1  # full: this env runs the one_env and cross tests on every database
for spec in "${MATRIX[@]}"; do
  IFS='|' read -r env py reqs <<<"$spec"
  [[ -z ${ARUNNER_ENVS:-} || ,$ARUNNER_ENVS, == *,$env,* ]] || continue
  venv=$PWD/.venv-ci/$env
  before=$FAILED_LEGS
  leg "$env/install" check setup_env "$venv" "$py" "$reqs"
  if (( FAILED_LEGS > before )); then
    for db in "${dbs[@]}"; do not_run "$env/$db" "not run: install failed"; done
    continue
  fi
  if (( first )); then leg "$env/ruff" check in_env "$venv" lint; first=0; fi
  leg "$env/mypy" check in_env "$venv" typecheck  # in every env: each Django, each Python
  for db in "${dbs[@]}"; do
    if ! err=$(in_env "$venv" db_ready "$db" </dev/null 2>&1); then
      not_run "$env/$db" "$db server unreachable" "$err"
    else
      leg "$env/$db" tests in_env "$venv" run_tests "$db" "$full"
    fi
  done
  full=0
done

printf '\n===== summary (%ss) =====\n' "$SECONDS"
printf '%-8s %-24s %6s %6s %7s %7s\n' status leg passed failed skipped time
printf '%s\n' "${SUMMARY[@]}"
if (( PASSED + FAILED == 0 )); then echo "no test ran"; FAILED_LEGS=$((FAILED_LEGS + 1)); fi
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
(( FAILED_LEGS == 0 ))
