#!/usr/bin/env bash
# Runs the libFuzzer targets of a fuzz build for a set time each, starting
# from the generated seeds plus the corpus kept from earlier runs, then
# replays tests/fuzz/regress/<target>/ (every reproducer ever found).
# Prints "FUZZ <target> execs <n> ..." per target; exits non-zero on any
# crash, leak, timeout or OOM.
# Usage: run_fuzz.sh <build dir> <seconds per target> [target...]
set -u
build=$1
seconds=$2
shift 2
src=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(http_request json_command envelope snapshot token_value)
work=$build/fuzz-work
mkdir -p "$work"
"$build/tests/fuzz/make_seeds" "$work/seeds" >/dev/null || exit 1
status=0
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/${t}_fuzz
  corpus=$work/corpus/$t
  mkdir -p "$corpus" "$work/artifacts/$t"
  log=$work/$t.log
  lsan=""
  [[ $t == http_request ]] && lsan="suppressions=$src/lsan_ledger_threads.supp"
  LSAN_OPTIONS=$lsan "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$t/" "$corpus" "$work/seeds/$t" \
    >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  echo "FUZZ $t execs ${execs:-0} seconds $seconds ${cov} rc $rc"
  if [[ $rc -ne 0 ]]; then
    status=1
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5
  fi
  if [[ -d $src/regress/$t ]] && compgen -G "$src/regress/$t/*" >/dev/null; then
    "$bin" -runs=1 "$src/regress/$t"/* >"$work/$t.regress.log" 2>&1 || {
      echo "FUZZ $t regression reproducer fails again"; status=1; }
  fi
done
exit $status
