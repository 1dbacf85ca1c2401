#!/usr/bin/env bash
# Times the explorer's on-demand jobs over HTTP with curl, as a script using the API sees them: a contrast,
# a second contrast and a shifting curve on the same layer (the second job is where a kept model pays off),
# then cancel latency (the time from DELETE /api/jobs/<id> to the job's "cancelled" event) for cancels sent
# at several delays after a contrast job starts. Dev-time measurement for issue 22, not a test.
#
#   tools/serve_timing.sh RUN [CODE_DIR] [PORT] [-- SERVE FLAGS]
#
# RUN is a served run folder (deno task demo writes out/demo); its explorer/ subfolder is removed first, so
# that every job computes. CODE_DIR is the protoscope checkout whose server runs (default: this one), so
# that two versions can be compared on one run folder.
set -euo pipefail
run=$(realpath "$1")
code=${2:-$(dirname "$0")/..}
port=${3:-8091}
shift $(($# < 3 ? $# : 3))
[ "${1:-}" = "--" ] && shift
base="http://127.0.0.1:$port"
log=$(mktemp)
times=$(mktemp)
rm -rf "$run/explorer"
(cd "$code" && PROTOSCOPE_QUIET=1 exec deno run -A tasks/serve.ts --run "$run" --port "$port" "$@") >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; rm -f "$log" "$times"' EXIT
for _ in $(seq 120); do
  curl -sf "$base/api/classes" >/dev/null && break
  sleep 0.5
done

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
job_id() { sed -E 's/.*"id":"([0-9]+)".*/\1/'; }
end_event() { grep -m1 -oE '^event: (done|error|cancelled)' | sed 's/event: //'; }

# kind a b: seconds from the POST to the job's end event.
timed_job() {
  local t0 id end
  t0=$(now)
  id=$(curl -sf -X POST "$base/api/$1?a=$2&b=$3" | job_id)
  end=$(curl -sN "$base/api/jobs/$id/events" | end_event)
  echo "$1 $2,$3: $(since "$t0") s ($end)" | tee -a "$times"
  [ "$end" = done ] || curl -s "$base/api/jobs/$id" | grep -oE '"error":"[^"]*"' | head -1
}

# The first job opens the model; the later ones (other pairs, same layer) show what a job costs after that.
timed_job contrast 6 7
for pair in "0 1" "1 2" "2 3" "3 5" "4 5"; do timed_job contrast $pair; done
for pair in "3 5" "4 6" "5 7"; do timed_job shifting $pair; done

# delay: a contrast job (2, 4), cancelled `delay` seconds after it was posted.
cancel_after() {
  local id events t0 end
  id=$(curl -sf -X POST "$base/api/contrast?a=2&b=4" | job_id)
  events=$(mktemp)
  curl -sN "$base/api/jobs/$id/events" >"$events" &
  local reader=$!
  sleep "$1"
  t0=$(now)
  curl -sf -X DELETE "$base/api/jobs/$id" >/dev/null
  wait "$reader"
  end=$(end_event <"$events")
  echo "cancel at ${1} s: ${end} $(since "$t0") s after the DELETE" | tee -a "$times"
  rm -f "$events"
}
for delay in ${CANCEL_DELAYS:-0.05 0.1 0.15 0.2 0.25 0.3 0.35 0.4 0.45 0.5}; do cancel_after "$delay"; done

# Medians: the later contrast jobs, the shifting jobs, and the latency of the cancels that took effect.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f s (n = %d)", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, NR }'; }
echo "median of the later contrast jobs: $(grep '^contrast' "$times" | tail -n +2 | awk '{ print $3 }' | median)"
echo "median of the shifting jobs: $(grep '^shifting' "$times" | awk '{ print $3 }' | median)"
echo "median cancel latency: $(grep ': cancelled' "$times" | awk '{ print $6 }' | median)"
