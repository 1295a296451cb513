#!/usr/bin/env bash
# The commands that made the 2026-12-07 headline, parallel, startup, memory and chart results
# (arunner at 4040eb7, from a snapshot checkout; quiet machine, load average < 1 before each).
# The start-up files were made again at the commit after, whose startup.py compiles arunner to
# bytecode first (this machine sets PYTHONDONTWRITEBYTECODE=1), with --repeat 9.
# Issue 19 measurements, one after another, on a quiet machine, from the snapshot checkout.
set -u
cd /work/bench-snap
PY=/work/main/.venv-ci/py312-dj61/bin/python
export PYTHONPATH=/work/bench-snap
D=2026-12-07
R=bench/results
run() { echo "=== $(date +%T) $*"; nice -n -15 "$@"; echo "=== rc=$?"; }
for DB in ${DBS:-sqlite postgres mariadb}; do
  case $DB in postgres) FT=100;; *) FT=200;; esac
  ARUNNER_TEST_DB=$DB run $PY bench/run.py --variants headline --tables 40 --flush-tests $FT \
    --repeat 5 --warmup 1 --out $R/$D-headline-$DB.md
done
for DB in ${PDBS:-sqlite postgres mariadb}; do
  ARUNNER_TEST_DB=$DB run $PY bench/run.py --variants parallel --tables 40 -n 2000 \
    --repeat 5 --warmup 1 --out $R/$D-parallel-$DB.md
done
ARUNNER_TEST_DB=sqlite run $PY bench/startup.py --repeat 9 --out $R/$D-startup-sqlite.md
ARUNNER_TEST_DB=postgres run $PY bench/startup.py --repeat 9 --out $R/$D-startup-postgres.md
ARUNNER_TEST_DB=sqlite run $PY bench/memory.py --out $R/$D-memory-sqlite.md
run $PY bench/chart.py $R/$D-headline-*.json --out $R/headline-ratios.png
echo ALL-DONE
