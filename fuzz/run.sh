#!/usr/bin/env bash
# Fuzz Umbra's decoders with cargo-fuzz (libFuzzer), one target at a time.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS   how long to fuzz each target (default 60)
# TARGET    targets to run (default: all of them, in the order of `umbra_fuzz::TARGETS`);
#           `fuzz/run.sh list` prints their names
#
# Steps: (re)writes the seed inputs of each target into fuzz/libfuzzer/corpus/<target>/
# (files named seed-*; inputs libFuzzer added earlier are kept) and a dictionary of epee
# field names and markers (fuzz/libfuzzer/corpus/epee.dict), builds the fuzz targets,
# then runs each for SECONDS with
#     cargo fuzz run --fuzz-dir fuzz/libfuzzer <target> -- -max_total_time=SECONDS
# and prints a table of executions per second and coverage. Logs go to
# fuzz/libfuzzer/logs/<target>.log, crashing inputs to fuzz/libfuzzer/artifacts/<target>/.
# Exits non-zero if any target crashed (or timed out, or ran out of memory), after
# printing where each artifact is.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). cargo-fuzz passes nightly-only
# flags (-Zsanitizer=address, coverage instrumentation); RUSTC_BOOTSTRAP=1 lets a stable
# toolchain accept them. Extra libFuzzer flags can be given in FUZZ_ARGS, e.g.
# FUZZ_ARGS="-use_value_profile=1 -max_len=65536".

set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
fuzz_dir=fuzz/libfuzzer
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

corpus_tool=(cargo run --quiet --package umbra-fuzz --bin umbra-fuzz-corpus --)
mapfile -t all_targets < <("${corpus_tool[@]}" list)

if [[ "${1:-}" == "list" ]]; then
    printf '%s\n' "${all_targets[@]}"
    exit 0
fi

seconds=60
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
    seconds="$1"
    shift
fi
if [[ $# -gt 0 ]]; then
    targets=("$@")
    for target in "${targets[@]}"; do
        if ! printf '%s\n' "${all_targets[@]}" | grep -qx -- "$target"; then
            echo "run.sh: no fuzz target '$target' (see: fuzz/run.sh list)" >&2
            exit 2
        fi
    done
else
    targets=("${all_targets[@]}")
fi

echo "== seed corpora -> $fuzz_dir/corpus/"
"${corpus_tool[@]}" build "$fuzz_dir/corpus" "${targets[@]}"
dict="$fuzz_dir/corpus/epee.dict"
"${corpus_tool[@]}" dict "$dict"

echo "== building fuzz targets"
for target in "${targets[@]}"; do
    cargo fuzz build --fuzz-dir "$fuzz_dir" "$target"
done

mkdir -p "$fuzz_dir/logs"
failed=()
table=()
for target in "${targets[@]}"; do
    log="$fuzz_dir/logs/$target.log"
    echo "== $target: ${seconds}s (log: $log)"
    status=0
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    cargo fuzz run --fuzz-dir "$fuzz_dir" "$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -dict="$dict" \
        ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
    result=ok
    if [[ $status -ne 0 ]] && ! grep -q '^INFO: Seed:' "$log"; then
        # libFuzzer never started: the build failed (e.g. sources changed mid-run).
        result="BUILD FAILED"
        failed+=("$target: did not build, see $log")
        grep -E -m1 -A5 '^error' "$log" || true
    elif [[ $status -ne 0 ]]; then
        result="FAILED ($status)"
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        failed+=("$target: ${artifact:-no artifact, see $log}")
        grep -E -m1 -A3 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer' "$log" || true
    fi
    table+=("$(printf '| %s | %s | %s | %s | %s | %s | %s MB | %s |' \
        "$target" "$seconds" "${runs:-?}" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${rss:-?}" "$result")")
    echo "${table[-1]}"
done

echo
echo "| target | s | runs | exec/s | cov | ft | peak RSS | result |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${table[@]}"

if [[ ${#failed[@]} -gt 0 ]]; then
    echo
    echo "crashed:" >&2
    printf '  %s\n' "${failed[@]}" >&2
    echo "reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir $fuzz_dir <target> <artifact>" >&2
    exit 1
fi
