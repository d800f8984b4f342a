#!/usr/bin/env bash
# Runs every cargo-fuzz target of sunfill (fuzz/fuzz_targets) for SECONDS each, one after the
# other, and prints a summary table (the one in BENCHMARKS.md, section "Fuzzing").
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      SECONDS defaults to 30; all targets by default
#
# Needs the nightly toolchain and cargo-fuzz; installs both when missing and fails loudly when it
# cannot (a CI run that fuzzes nothing must not pass). The seeds in fuzz/corpus/<target> are only
# read; inputs the fuzzer finds go to fuzz/.work/corpus/<target> (not committed) and are reused by
# the next run on the same machine. A crash does not stop the other targets: at the end the script
# exits 1 naming each failed target and its reproducer in fuzz/artifacts/<target>/.
# On a shared machine run it as `nice -n 19 scripts/fuzz.sh 600`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

die() { printf 'fuzz.sh: %s\n' "$*" >&2; exit 1; }

secs="${1:-30}"
[ $# -gt 0 ] && shift
[[ "$secs" =~ ^[1-9][0-9]*$ ]] || die "SECONDS must be a whole number above 0, got '$secs'"

# --- nightly and cargo-fuzz --------------------------------------------------------------------
command -v rustup >/dev/null ||
    die "rustup is not installed; fuzzing needs a nightly toolchain from rustup (https://rustup.rs). Not skipping."
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing the nightly toolchain (cargo-fuzz needs -Z sanitizer flags)"
    rustup toolchain install nightly --profile minimal ||
        die "cannot install the nightly toolchain ('rustup toolchain install nightly --profile minimal' failed, see above). Fuzzing needs nightly; NOT skipping."
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install --locked cargo-fuzz || die "cannot install cargo-fuzz ('cargo install --locked cargo-fuzz' failed, see above)"
fi
echo "fuzz.sh: $(rustup run nightly rustc --version), $(cargo fuzz --version)"

# --- build once, so that a build error is not mistaken for a crash ----------------------------
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
[ ${#targets[@]} -gt 0 ] || die "no fuzz targets found in fuzz/"
cargo +nightly fuzz build || die "the fuzz targets do not build"

# --- run ---------------------------------------------------------------------------------------
work=fuzz/.work
mkdir -p "$work/logs"
rows=()
failed=()
# One of libFuzzer's -print_final_stats lines, e.g. stat::number_of_executed_units.
final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
for t in "${targets[@]}"; do
    [ -d "fuzz/corpus/$t" ] || die "no seed corpus fuzz/corpus/$t for target $t"
    mkdir -p "$work/corpus/$t" "fuzz/artifacts/$t"
    flags=(-max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1)
    [ -f "fuzz/dict/$t.dict" ] && flags+=(-dict="fuzz/dict/$t.dict")
    log="$work/logs/$t.log"
    cmd=(cargo +nightly fuzz run "$t" "$work/corpus/$t" "fuzz/corpus/$t" -- "${flags[@]}")
    printf '\n== %s for %s s: %s\n' "$t" "$secs" "${cmd[*]}"
    started=$(date +%s)
    if "${cmd[@]}" >"$log" 2>&1; then
        result=ok
    else
        result="FAILED (exit $?)"
        failed+=("$t")
        tail -n 40 "$log"
        ls -1 "fuzz/artifacts/$t" | sed "s|^|  reproducer: fuzz/artifacts/$t/|"
    fi
    elapsed=$(($(date +%s) - started))
    execs=$(final_stat number_of_executed_units)
    rate=$(final_stat average_exec_per_sec)
    # libFuzzer's last status line: "cov: EDGES ft: FEATURES corp: UNITS/SIZE ...".
    status=$({ grep -E ' cov: [0-9]+ .* corp: ' "$log" || true; } | tail -n 1)
    cov=$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$status")
    corp=$(sed -nE 's|.* corp: ([0-9]+)/([0-9]+[a-zA-Z]*) .*|\1 (\2)|p' <<<"$status")
    files=$(find "$work/corpus/$t" -type f | wc -l)
    printf '%s: %s, %s s, %s executions (%s/s), corpus %s units, %s files, coverage %s edges\n' \
        "$t" "$result" "$elapsed" "${execs:-?}" "${rate:-?}" "${corp:-?}" "$files" "${cov:-?}"
    rows+=("| \`$t\` | $elapsed s | ${execs:-?} | ${rate:-?} | ${corp:-?} | $files | ${cov:-?} | $result |")
done

printf '\n| target | duration | executions | exec/s | corpus units (size) | corpus files | coverage (edges) | result |\n'
printf '|---|---|---|---|---|---|---|---|\n'
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    die "crashes or errors in: ${failed[*]} (logs in $work/logs, reproducers in fuzz/artifacts/; reproduce with 'cargo +nightly fuzz run TARGET FILE')"
fi
echo "fuzz.sh: every target ran ${secs} s without a crash"
