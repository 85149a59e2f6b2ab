# Sourced by the end-to-end benchmarks: start the release sandbox and wait for its address.
#   start_sandbox SEED [SANDBOX FLAGS...]   with $BIN, $WORK set; $PIN (e.g. "taskset -c 0")
#                                           runs it pinned
# Sets PORT and SPID. Large seeds take a while to load, so it waits up to 60 s.
start_sandbox() {
  local seed=$1; shift
  ${PIN:-} "$BIN" sandbox --port 0 --seed "$seed" --token bench_token "$@" > "$WORK/sandbox.out" &
  SPID=$!
  for _ in $(seq 600); do
    if grep -q listening "$WORK/sandbox.out" 2>/dev/null; then break; fi
    sleep 0.1
  done
  PORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/sandbox.out")
}
