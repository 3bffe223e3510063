#!/usr/bin/env bash
# replica-run.sh: the operator's check of a replicated node (docs/operations.md
# §6, "Checking a replicated node by hand"). A federation of three operators,
# each making its own keys; node 0 runs as two replicas over one PostgreSQL
# behind HAProxy in TCP mode, nodes 1 and 2 on SQLite. Contributors upload
# through the balancer (so through both replicas), a buyer submits a job, the
# replica coordinating it is killed with SIGKILL mid-round; the job must end
# DONE once or FAILED with every escrow refunded, the balances must agree, the
# other replica must keep serving, and a second job must complete and its
# transcript verify.
#
# Only the cohort CLI, haproxy and a PostgreSQL are used. The database comes
# from COHORT_STORE_DSN, or from the PG* variables pg_virtualenv sets:
#   pg_virtualenv -t -v 15 scripts/replica-run.sh      (or: make replica-run)
# Everything lives in a temporary directory (kept with KEEP=1 or on
# failure) and every process started here is stopped on exit.
#
# Settings (environment): CONTRIBUTORS (default 24), JOB_LEASE (10s),
# PORT_BASE (27400: uses PORT_BASE..PORT_BASE+42), KILL_AT (the first state
# of the job at which its coordinator is killed: ADMITTED), COHORT (a built
# cohort binary; default: built from this checkout).
set -euo pipefail

CONTRIBUTORS=${CONTRIBUTORS:-24}
JOB_LEASE=${JOB_LEASE:-10s}
PORT_BASE=${PORT_BASE:-27400}
KILL_AT=${KILL_AT:-ADMITTED}
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}

W=$(mktemp -d "${TMPDIR:-/tmp}/cohort-replica-run.XXXXXX")
PIDS=()
FAILS=()
T_START=$(date +%s.%N)

step() { printf '\n== [%6.1fs] %s\n' "$(elapsed)" "$*"; }
info() { printf '   %s\n' "$*"; }
fail() { FAILS+=("$*"); printf '   FAIL: %s\n' "$*"; }
die() { printf 'replica-run: %s\n' "$*" >&2; exit 2; }
# calc EXPR: a floating-point expression, printed with FORMAT (default %.3f).
calc() { awk "BEGIN {printf \"${2:-%.3f}\", $1}"; }
elapsed() { calc "$(date +%s.%N) - $T_START" %.1f; }
now() { date +%s.%N; }
secs() { calc "$2 - $1" %.1f; }

cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
		echo "replica-run: files and logs kept in $W"
	else
		rm -rf "$W"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v haproxy >/dev/null || die "haproxy is needed (apt-get install haproxy)"
if [ -z "${COHORT_STORE_DSN:-}" ]; then
	[ -n "${PGHOST:-}" ] && [ -n "${PGPORT:-}" ] && [ -n "${PGUSER:-}" ] && [ -n "${PGDATABASE:-}" ] ||
		die "give COHORT_STORE_DSN or run under pg_virtualenv (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE)"
	COHORT_STORE_DSN="postgres://$PGUSER:${PGPASSWORD:-}@$PGHOST:$PGPORT/$PGDATABASE?sslmode=disable"
fi
export COHORT_STORE_DSN

# Ports: the balancer takes node 0's public addresses; each replica and the
# other nodes have their own.
LB_API=127.0.0.1:$PORT_BASE
LB_PEER=127.0.0.1:$((PORT_BASE + 1))
A_API=127.0.0.1:$((PORT_BASE + 10)) A_PEER=127.0.0.1:$((PORT_BASE + 11)) A_MET=127.0.0.1:$((PORT_BASE + 12))
B_API=127.0.0.1:$((PORT_BASE + 20)) B_PEER=127.0.0.1:$((PORT_BASE + 21)) B_MET=127.0.0.1:$((PORT_BASE + 22))
N1_API=127.0.0.1:$((PORT_BASE + 30)) N1_PEER=127.0.0.1:$((PORT_BASE + 31)) N1_MET=127.0.0.1:$((PORT_BASE + 32))
N2_API=127.0.0.1:$((PORT_BASE + 40)) N2_PEER=127.0.0.1:$((PORT_BASE + 41)) N2_MET=127.0.0.1:$((PORT_BASE + 42))

cd "$W"
mkdir -p ops/0 ops/1 ops/2 ca public people logs

step "build the cohort CLI"
if [ -n "${COHORT:-}" ]; then
	C=$COHORT
else
	(cd "$REPO" && go build -o "$W/cohort" ./cmd/cohort)
	C=$W/cohort
fi
info "$("$C" version | head -1)"
info "working directory $W"

step "each operator makes its node's keys on its own machine (federation keygen)"
"$C" federation keygen --dir ops/0/node --index 0 --api "$LB_API" --peer "$LB_PEER" >logs/keygen-0.txt
"$C" federation keygen --dir ops/1/node --index 1 --api "$N1_API" --peer "$N1_PEER" --metrics "$N1_MET" >logs/keygen-1.txt
"$C" federation keygen --dir ops/2/node --index 2 --api "$N2_API" --peer "$N2_PEER" --metrics "$N2_MET" >logs/keygen-2.txt
for i in 0 1 2; do info "node $i request fingerprint $(tail -n +2 logs/keygen-$i.txt | grep -Eo '[0-9a-f]{64}' | head -1)"; done

step "the CA holder assembles the federation from the three public requests"
"$C" federation ca --dir ca --federation cohort >logs/ca.txt
for i in 0 1 2; do cp "ops/$i/node/node-request.yaml" "public/node-$i-request.yaml"; done
"$C" federation assemble --ca ca --out public/fed public/node-0-request.yaml public/node-1-request.yaml public/node-2-request.yaml >logs/assemble.txt
grep -i fingerprint logs/assemble.txt | sed 's/^/   /' || true

step "each operator installs the descriptor and its certificate (federation install)"
for i in 0 1 2; do
	"$C" federation install --config "ops/$i/node/node.yaml" --federation public/fed/federation.yaml --cert "public/fed/node-$i.crt" >>logs/install.txt
done
# Node 0's operator moves its node to PostgreSQL and sets the job lease; its
# replicas share node.yaml and the DSN (COHORT_STORE_DSN) and differ only by
# their command lines.
sed -i -e 's/^  driver: sqlite$/  driver: postgres/' -e "s/^  job_lease: .*/  job_lease: $JOB_LEASE/" ops/0/node/node.yaml
grep -q '^  driver: postgres$' ops/0/node/node.yaml || die "node.yaml: store driver not set"
"$C" federation check ops/0/node/node.yaml >/dev/null
info "node 0: store postgres (COHORT_STORE_DSN), job_lease $JOB_LEASE"
FED=$W/public/fed/federation.yaml
CA=$W/public/fed/ca.pem

step "node 0's operator starts HAProxy (TCP, TLS passed through) in front of replicas a and b"
cat >ops/0/haproxy.cfg <<EOF
global
  maxconn 1000
defaults
  mode tcp
  timeout connect 5s
  timeout client  1h
  timeout server  1h
  retries 3
  option redispatch
frontend api
  bind $LB_API
  default_backend api
backend api
  balance leastconn
  option httpchk GET /readyz
  default-server inter 1s fall 2 rise 1
  server a $A_API check port ${A_MET##*:}
  server b $B_API check port ${B_MET##*:}
frontend peer
  bind $LB_PEER
  default_backend peer
backend peer
  balance leastconn
  option httpchk GET /readyz
  default-server inter 1s fall 2 rise 1
  server a $A_PEER check port ${A_MET##*:}
  server b $B_PEER check port ${B_MET##*:}
EOF
haproxy -c -f ops/0/haproxy.cfg >/dev/null
haproxy -db -f ops/0/haproxy.cfg >logs/haproxy.log 2>&1 &
PIDS+=($!)
HAPROXY_PID=$!
info "haproxy pid $HAPROXY_PID: api $LB_API -> $A_API, $B_API; peer $LB_PEER -> $A_PEER, $B_PEER"

step "start node 0's replicas a and b (one PostgreSQL) and nodes 1 and 2 (SQLite)"
"$C" node --config ops/0/node/node.yaml --replica-id node0-a \
	--listen "$A_API" --peer-listen "$A_PEER" --metrics-listen "$A_MET" >logs/node0-a.log 2>&1 &
PIDS+=($!)
PID_A=$!
"$C" node --config ops/0/node/node.yaml --replica-id node0-b \
	--listen "$B_API" --peer-listen "$B_PEER" --metrics-listen "$B_MET" >logs/node0-b.log 2>&1 &
PIDS+=($!)
PID_B=$!
"$C" node --config ops/1/node/node.yaml >logs/node1.log 2>&1 &
PIDS+=($!)
PID_N1=$!
"$C" node --config ops/2/node/node.yaml >logs/node2.log 2>&1 &
PIDS+=($!)
PID_N2=$!
info "pids: node0-a $PID_A, node0-b $PID_B, node 1 $PID_N1, node 2 $PID_N2"

ready() { curl -fsS -o /dev/null "http://$1/readyz" 2>/dev/null; }
t0=$(now)
for m in "$A_MET" "$B_MET" "$N1_MET" "$N2_MET"; do
	for _ in $(seq 1 600); do
		ready "$m" && break
		sleep 0.1
	done
	ready "$m" || die "$m/readyz never 200 (logs in $W/logs)"
done
info "every /readyz 200 after $(secs "$t0" "$(now)") s"

ADMIN0=("$C" admin --node "$LB_API" --ca "$CA" --admin-token-file ops/0/node/admin.token)
step "cohort admin status through the balancer lists both replicas"
sleep 1
"${ADMIN0[@]}" status | tee logs/status-before.txt | sed 's/^/   /'
grep -q '^node0-a ' logs/status-before.txt && grep -q '^node0-b ' logs/status-before.txt ||
	fail "admin status does not list both replicas"

step "node 0's operator creates the dataset: a three-party ceremony"
cp "$REPO/schema/fitness.yaml" people/fitness.yaml
t0=$(now)
"$C" dataset create --node "$LB_API" --ca "$CA" --admin-token-file ops/0/node/admin.token \
	--schema people/fitness.yaml --beacon-source "replica-run $(date -u +%F)" \
	--price 1 --job-fee 10 >logs/dataset.txt 2>&1 || { cat logs/dataset.txt; die "dataset create failed"; }
T_CEREMONY=$(secs "$t0" "$(now)")
tail -3 logs/dataset.txt | sed 's/^/   /'
info "ceremony took $T_CEREMONY s"

step "a buyer makes its key; node 0's operator creates the account and credits it"
B=("$C" buyer --node "$LB_API" --ca "$CA" --token-file people/acme.token)
PUB=$("${B[@]}" keygen acme --json | sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p')
[ -n "$PUB" ] || die "buyer keygen printed no public key"
"${ADMIN0[@]}" buyers create acme --public-key "$PUB" --token-file people/acme.token >/dev/null
# A job holds in escrow its quote: the price per record times the
# dataset's largest cohort (1000000), plus the fee.
"${ADMIN0[@]}" buyers credit acme 5000000 >logs/credit.txt
info "acme created on every node, credited 5000000 micro-credits"

# CPU time (user+system, seconds) a process has used so far.
TICK=$(getconf CLK_TCK)
cpu() { awk -v t="$TICK" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }
contributions() {
	curl -fsS "http://$1/metrics" | awk '/^cohort_contributions_total\{/ && /role="coordinator"/ && /result="accepted"/ {s += $NF}
		END {print s + 0}'
}

step "$CONTRIBUTORS contributors register and upload through the balancer, two at a time"
"${ADMIN0[@]}" invites --count "$CONTRIBUTORS" >people/invites.txt
# contribute K NODE: contributor K makes an identity, registers with the
# K-th invite and uploads one record; everything it prints goes to
# people/contrib-K.log.
contribute() {
	local k=$1 node=$2 id=people/c$1.json rec=people/r$1.json
	local P=("$C" contributor --identity "$id" --node "$node" --federation "$FED" --cache "$W/cache")
	exec 3>"people/contrib-$k.log"
	"${P[@]}" init >&3 2>&1 || return 1
	"${P[@]}" register --invite "$(sed -n "${k}p" people/invites.txt)" >&3 2>&1 || return 1
	printf '{"age":%d,"steps":%d,"resting_hr":%d,"sleep_h":%s,"smoker":%s,"region":"%s"}\n' \
		$((20 + k * 7 % 60)) $((3000 + k * 611 % 12000)) $((50 + k * 3 % 30)) "$((5 + k % 4)).$((k * 13 % 100))" \
		"$([ $((k % 5)) = 0 ] && echo true || echo false)" "$(echo north south east west | cut -d' ' -f$((k % 4 + 1)))" >"$rec"
	"${P[@]}" contribute --dataset fitness-2026 --epoch current --record "$rec" \
		--purposes public-health,academic-research --expiry 2099-12-31 >&3 2>&1
}
lastline() { tail -n 1 "people/contrib-$1.log" 2>/dev/null || true; }
# The first proves once to fill the proving-key cache.
cpu_a0=$(cpu "$PID_A") cpu_b0=$(cpu "$PID_B") cpu_n10=$(cpu "$PID_N1")
t0=$(now)
ok=0
contribute 1 "$LB_API" && ok=$((ok + 1)) || fail "contribution 1: $(lastline 1)"
for ((k = 2; k <= CONTRIBUTORS; k += 2)); do
	contribute "$k" "$LB_API" &
	p1=$!
	p2=
	if [ $((k + 1)) -le "$CONTRIBUTORS" ]; then
		contribute $((k + 1)) "$LB_API" &
		p2=$!
	fi
	wait "$p1" && ok=$((ok + 1)) || fail "contribution $k: $(lastline $k)"
	if [ -n "$p2" ]; then wait "$p2" && ok=$((ok + 1)) || fail "contribution $((k + 1)): $(lastline $((k + 1)))"; fi
done
T_UPLOAD=$(secs "$t0" "$(now)")
cpu_a=$(calc "$(cpu "$PID_A") - $cpu_a0" %.2f) cpu_b=$(calc "$(cpu "$PID_B") - $cpu_b0" %.2f)
cpu_n1=$(calc "$(cpu "$PID_N1") - $cpu_n10" %.2f)
UP_A=$(contributions "$A_MET") UP_B=$(contributions "$B_MET")
info "$ok of $CONTRIBUTORS uploads accepted in $T_UPLOAD s: replica a took $UP_A, replica b $UP_B"
info "CPU of replica a $cpu_a s, of replica b $cpu_b s"
if [ $((UP_A + UP_B)) -gt 0 ]; then
	CPU_PER=$(calc "($cpu_a + $cpu_b) / ($UP_A + $UP_B)")
	info "node 0's CPU per contribution: $CPU_PER s (both replicas' CPU / uploads they took)"
	info "node 1's CPU per contribution (a peer, one process): $(calc "$cpu_n1 / ($UP_A + $UP_B)") s"
fi
[ "$ok" = "$CONTRIBUTORS" ] || fail "$ok of $CONTRIBUTORS uploads accepted"
[ "$UP_A" -gt 0 ] && [ "$UP_B" -gt 0 ] || fail "uploads did not reach both replicas (a $UP_A, b $UP_B)"

cat >people/job.yaml <<EOF
dataset: fitness-2026
epoch: current
purpose: public-health
privacy: {rho: 1/8}
outputs:
  - count
  - {mean: age}
  - {histogram: region}
  - {linear_regression: {target: resting_hr, features: [age, steps], ridge: 0}}
EOF

step "the buyer submits job 1 through the balancer; its coordinator is killed (SIGKILL) at $KILL_AT"
"${B[@]}" balance | sed 's/^/   /'
"${B[@]}" submit people/job.yaml --wait >logs/job1-submit.txt 2>&1 &
SUBMIT_PID=$!
JOB1=
for _ in $(seq 1 1000); do
	JOB1=$(sed -n 's/^job \([A-Za-z0-9-]*\) submitted.*/\1/p' logs/job1-submit.txt)
	[ -n "$JOB1" ] && break
	kill -0 "$SUBMIT_PID" 2>/dev/null || break
	sleep 0.01
done
[ -n "$JOB1" ] || die "job 1 was not submitted: $(cat logs/job1-submit.txt)"
# The replica that took SubmitJob claims the job's lease at once: its log
# says so.
COORD=
for _ in $(seq 1 500); do
	if grep -q "job submitted.*job=$JOB1" logs/node0-a.log; then COORD=a; fi
	if grep -q "job submitted.*job=$JOB1" logs/node0-b.log; then COORD=b; fi
	[ -n "$COORD" ] && break
	sleep 0.01
done
[ -n "$COORD" ] || die "no replica logged job $JOB1"
if [ "$COORD" = a ]; then VICTIM=$PID_A SURVIVOR=b; else VICTIM=$PID_B SURVIVOR=a; fi
KILL_STATE=
for _ in $(seq 1 3000); do
	KILL_STATE=$(grep -Eo "$KILL_AT|AGGREGATING|RELEASING|DONE|FAILED|REJECTED" logs/job1-submit.txt | head -1 || true)
	[ -n "$KILL_STATE" ] && break
	sleep 0.005
done
kill -9 "$VICTIM"
T_KILL=$(now)
wait "$VICTIM" 2>/dev/null || true
info "job $JOB1 coordinated by replica $COORD (pid $VICTIM); killed when the buyer saw $KILL_STATE"
wait "$SUBMIT_PID" 2>/dev/null || true
info "the buyer's watch (it was connected to the killed replica): $(tail -1 logs/job1-submit.txt)"

step "through the balancer, the job ends on the surviving replica $SURVIVOR"
"${B[@]}" watch "$JOB1" >logs/job1-watch.txt 2>&1 || true
T_END=$(now)
J1_STATE=$(grep -Eo 'DONE|FAILED|REJECTED|CANCELLED' logs/job1-watch.txt | tail -1 || true)
T_TAKEOVER=$(secs "$T_KILL" "$T_END")
tail -2 logs/job1-watch.txt | sed 's/^/   /'
info "job 1 ended $J1_STATE $T_TAKEOVER s after the kill (lease $JOB_LEASE)"
{ grep -h "job=$JOB1" "logs/node0-$SURVIVOR.log" || true; } | sed 's/^/   survivor: /' | tail -3
case "$J1_STATE" in
DONE | FAILED) ;;
*) fail "job 1 ended '$J1_STATE', want DONE or FAILED" ;;
esac

step "escrows and balances: every node agrees"
BAL_OK=0
for _ in $(seq 1 30); do
	if "${ADMIN0[@]}" balances >logs/balances-1.txt 2>&1; then BAL_OK=1 && break; fi
	sleep 1
done
sed 's/^/   /' logs/balances-1.txt
[ "$BAL_OK" = 1 ] || fail "admin balances: the nodes disagree after job 1"
"${B[@]}" balance | tee logs/buyer-balance-1.txt | sed 's/^/   /'
CHARGED1=$(awk '$1 == "charged" {print $2}' logs/buyer-balance-1.txt)
HELD1=$(awk '$1 == "held" {print $NF}' logs/buyer-balance-1.txt)
[ "$HELD1" = 0 ] || fail "after job 1 the buyer still has $HELD1 held in escrow"
[ "$J1_STATE" != FAILED ] || [ "$CHARGED1" = 0 ] || fail "job 1 FAILED but the buyer was charged $CHARGED1"
"${B[@]}" jobs | sed 's/^/   /'
# Node 0's privacy ledger: a node debits a job's ρ when its partial
# leaves it, and the debit stays when the job then fails.
"${B[@]}" budget --dataset fitness-2026 | sed 's/^/   /'
RELEASED1=
for i in 0 1 2; do
	if grep -q "partial released.*job=$JOB1" logs/node$i*.log; then RELEASED1="$RELEASED1 $i"; fi
done
info "nodes that released their partial of job 1 before it ended:${RELEASED1:- none}"

step "the surviving replica keeps serving: status, and one more upload"
"${ADMIN0[@]}" status | tee logs/status-after.txt | sed 's/^/   /'
grep -q "(answered)" logs/status-after.txt || fail "admin status after the kill"
k=$((CONTRIBUTORS + 1))
"${ADMIN0[@]}" invites --count 1 >>people/invites.txt
UPLOAD_AFTER=refused
if contribute "$k" "$LB_API"; then
	UPLOAD_AFTER=accepted
	info "upload $k accepted through the balancer"
else
	fail "upload after the kill: $(lastline $k)"
fi

step "job 2 through the balancer completes"
t0=$(now)
"${B[@]}" submit people/job.yaml --wait >logs/job2.txt 2>&1 || true
T_JOB2=$(secs "$t0" "$(now)")
JOB2=$(sed -n 's/^job \([A-Za-z0-9-]*\) submitted.*/\1/p' logs/job2.txt)
J2_STATE=$(grep -Eo 'DONE|FAILED|REJECTED|CANCELLED' logs/job2.txt | head -1 || true)
{ grep -E '^job |^  \[' logs/job2.txt || true; } | sed 's/^/   /'
info "job 2 $JOB2 ended $J2_STATE in $T_JOB2 s"
[ "$J2_STATE" = DONE ] || fail "job 2 ended '$J2_STATE', want DONE"
for _ in $(seq 1 30); do
	if "${ADMIN0[@]}" balances >logs/balances-2.txt 2>&1; then break; fi
	sleep 1
done
"${ADMIN0[@]}" balances >logs/balances-2.txt 2>&1 || fail "admin balances: the nodes disagree after job 2"
"${B[@]}" balance | tee logs/buyer-balance-2.txt | sed 's/^/   /'

step "anyone audits job 2's transcript offline"
AUDIT=FAIL
if [ "$J2_STATE" = DONE ]; then
	"$C" audit fetch --job "$JOB2" --node "$LB_API" --federation "$FED" --cache "$W/cache" -o people/job2.bundle >/dev/null
	if "$C" audit verify --federation "$FED" people/job2.bundle >logs/audit.txt 2>&1; then AUDIT=PASS; fi
	sed 's/^/   /' logs/audit.txt | tail -12
fi
[ "$AUDIT" = PASS ] || fail "audit verify of job 2"
if [ "$J1_STATE" = DONE ]; then
	"$C" audit fetch --job "$JOB1" --node "$LB_API" --federation "$FED" --cache "$W/cache" -o people/job1.bundle >/dev/null &&
		"$C" audit verify --federation "$FED" people/job1.bundle >logs/audit1.txt 2>&1 || fail "audit verify of job 1"
fi

step "summary"
cat <<EOF
   ceremony (3 nodes)              $T_CEREMONY s
   uploads accepted                $ok of $CONTRIBUTORS in $T_UPLOAD s (replica a $UP_A, replica b $UP_B)
   node 0 CPU per contribution     ${CPU_PER:-?} s
   job 1                           $JOB1: coordinator replica $COORD killed at $KILL_STATE; ended $J1_STATE on replica $SURVIVOR $T_TAKEOVER s after the kill (lease $JOB_LEASE)
   buyer after job 1               charged $CHARGED1, held $HELD1; the nodes' ledgers agree: $([ "$BAL_OK" = 1 ] && echo yes || echo no)
   partials of job 1 released on   nodes${RELEASED1:- none}
   upload after the kill           $UPLOAD_AFTER
   job 2                           $JOB2: $J2_STATE in $T_JOB2 s
   audit verify (job 2)            $AUDIT
   balances agree                  $(cat logs/balances-2.txt | tail -1)
EOF
if [ ${#FAILS[@]} -eq 0 ]; then
	printf '\nreplica-run: PASS (%.0f s)\n' "$(elapsed)"
else
	printf '\nreplica-run: FAIL\n'
	printf '   %s\n' "${FAILS[@]}"
	exit 1
fi
