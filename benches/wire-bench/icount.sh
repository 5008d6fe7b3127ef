#!/usr/bin/env bash
# Instructions per decode, counted with valgrind's callgrind: deterministic, so unlike
# criterion's times they do not move with the load of a shared machine. For each case and
# routine, runs the profile example with N and with 0 iterations and prints the
# difference divided by N (setup and the fixture build cancel out).
#
#   benches/wire-bench/icount.sh            # every case, three decode routines
#   CASES=handshake_request N=200 benches/wire-bench/icount.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
cargo build -q --profile bench -p umbra-wire-bench --example profile
bin="${CARGO_TARGET_DIR:-target}/release/examples/profile"
n="${N:-100}"
cases="${CASES:-handshake_request handshake_response chain_response_10k get_objects_mainnet_100 get_objects_regtest_100}"
total() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/stdout --compress-strings=no \
    --compress-pos=no "$bin" "$1" "$2" "$3" 2>/dev/null | awk '/^summary:/ {print $2}'
}
printf '| case | routine | instructions per decode |\n|---|---|---:|\n'
for case in $cases; do
  for routine in ours/decode-borrowed ours/decode monero-epee/decode; do
    with=$(total "$case" "$routine" "$n")
    without=$(total "$case" "$routine" 0)
    printf '| %s | %s | %d |\n' "$case" "$routine" $(((with - without) / n))
  done
done
