#!/usr/bin/env bash
# Load benchmark of `trustfuse serve` and `trustfuse guard` (issue 7), on
# 127.0.0.1 only, bounded in time. Builds trustfuse and the load generator
# (internal/loadgen), makes a throw-away setup in a temp dir (P-256 signing
# key, registry with one release, nonce key, TLS PKI with openssl), starts
# serve, a tiny upstream and guard in front of it, each under
# /usr/bin/time -v (peak RSS) and `timeout` (they stop by themselves), then:
#   1. serve:  challenge + attest pairs (each attest carries a real HMAC
#      proof and gets a token signed by the JWKS key; the generator checks
#      the kid, since a refusal is a 200 too in opaque mode)
#   1b. serve: challenge + certificate pairs for an attested-identity release
#      (a Key Attestation chain minted per nonce under a test root), with the
#      ratio of issuances/s to 1.'s pairs/s
#   2. guard:  keep-alive GETs through guard with a bound token and a client
#      certificate (RequireAndVerifyClientCert, --require-binding)
#   3. wrk:    GET /healthz on serve and GET on the upstream (the HTTP
#      stack's ceiling; wrk cannot present a client certificate, so it cannot
#      go through guard)
#   4. inproc: the same pairs against serve's handler in one process, with a
#      CPU profile (go tool pprof), and `perf` on the serve process if present
# and prints requests/s, p50/p95/p99 latency, errors, the CPU time serve
# spent per verification and the peak RSS of each server. Not part of CI;
# run it by hand: scripts/bench-serve.sh. The generator and the servers
# share the machine's cores: see docs/benchmarks.md.
#
#   DURATION   run time of each scenario (default 10s)
#   CONC       concurrent workers, one keep-alive connection each; a list
#              runs every scenario once per value (default "8 32")
#   SERVE_TLS  1: serve over TLS with a client CA, tokens bound to the client
#              certificate (default); 0: plain HTTP serve, unbound tokens
#   PROFILE    1: CPU profiles (pprof in-process, perf on serve) (default 1)
#   WRK        1: run the wrk baseline (default 1)
#   LIFE       seconds after which every server stops by itself (default 600)
#   PG         1: also run serve on a PostgreSQL registry (a throw-away
#              postgres from the Debian package, on loopback) and print its
#              pairs/s and p99 next to the bbolt registry's and the ratio
#              (default 1 when /usr/lib/postgresql/*/bin/postgres exists)
set -euo pipefail
cd "$(dirname "$0")/.."

dur="${DURATION:-10s}"
concs="${CONC:-8 32}"
serve_tls="${SERVE_TLS:-1}"
profile="${PROFILE:-1}"
life="${LIFE:-600}"
run_wrk="${WRK:-1}"
pg_bins=(/usr/lib/postgresql/*/bin/postgres)
run_pg="${PG:-$([[ -x ${pg_bins[-1]} ]] && echo 1 || echo 0)}"
work=$(mktemp -d)
# stop_all: SIGTERM to every server started (pids in $work/*.pid), then wait.
stop_all() {
  local f
  for f in "$work"/*.pid; do [[ -s $f ]] && kill -TERM "$(cat "$f")" 2>/dev/null; rm -f "$f"; done
  wait 2>/dev/null || true
}
pgdir=""
cleanup() { stop_all; rm -rf "$work" ${pgdir:+"$pgdir"}; }
trap cleanup EXIT

sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
command -v /usr/bin/time >/dev/null || $sudo apt-get install -y -qq time >/dev/null
[[ $run_wrk != 1 ]] || command -v wrk >/dev/null || $sudo apt-get install -y -qq wrk >/dev/null 2>&1 || echo "bench-serve: wrk not available, skipping its baseline" >&2

go build -o "$work/trustfuse" ./cmd/trustfuse
go build -o "$work/loadgen" ./internal/loadgen
tf="$work/trustfuse" lg="$work/loadgen"

# Keys, PKI and the registry.
cd "$work"
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out signing.pem
openssl rand -hex 32 >registry.key
openssl rand -hex 32 >nonce.key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -subj /CN=bench-ca \
  -days 2 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign -out ca.pem 2>/dev/null
leaf() { # leaf NAME EXTENSIONS
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -subj "/CN=$1" 2>/dev/null |
    openssl x509 -req -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile <(printf '%b' "$2") -out "$1.pem" 2>/dev/null
}
leaf server 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature'
leaf client 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature'
"$lg" release -out release.json
"$tf" releases add --registry reg.db --registry-key file:registry.key release.json >/dev/null
"$lg" release -identity -out attested.json -root-out karoot.pem -root-key-out karoot.key
"$tf" releases add --registry reg.db --registry-key file:registry.key attested.json >/dev/null

tls_json=""
[[ $serve_tls == 1 ]] && tls_json='"tls": {"cert": "server.pem", "key": "server.key", "clientCA": "ca.pem"},'
cat >serve.json <<EOF
{"listen": "127.0.0.1:0", $tls_json
 "registry": "reg.db", "registryKey": "file:registry.key", "signingKey": "signing.pem",
 "nonceKey": "file:nonce.key", "issuer": "https://attest.bench", "audience": "api.bench",
 "tokenTTL": "30m", "nonceTTL": "2m", "debug": false,
 "keyAttestation": {"roots": "karoot.pem"}, "certificateIssuer": {"cert": "ca.pem", "key": "file:ca.key"}}
EOF

# start NAME CMD...: runs CMD under /usr/bin/time -v and timeout; its pid
# (CMD's own, through exec) lands in NAME.pid, stderr in NAME.log.
start() {
  local name=$1; shift
  /usr/bin/time -v -o "$name.time" timeout -s TERM "$life" bash -c 'echo $$ >"$0"; exec "$@"' "$name.pid" "$@" \
    >"$name.out" 2>"$name.log" &
  for _ in $(seq 100); do [[ -s $name.pid ]] && break; sleep 0.05; done
}
# wait_for NAME SED: waits until SED prints something from NAME.log.
wait_for() {
  local v=""
  for _ in $(seq 200); do
    v=$(sed -n "$2" "$1.log" | head -1)
    [[ -n $v ]] && { echo "$v"; return; }
    sleep 0.05
  done
  echo "bench-serve: $1 did not start:" >&2; cat "$1.log" >&2; exit 1
}
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
# idle_mark / idle_since: the share of the machine's CPU time left idle
# since the mark (a closed loop of C connections may not keep every core
# busy; that, not CPU, then bounds its rate).
idle_mark() { read -r _ u n s i _ </proc/stat; idle0=$i total0=$((u + n + s + i)); }
idle_since() { local u n s i; read -r _ u n s i _ </proc/stat; echo "$(( (i - idle0) * 100 / ((u + n + s + i) - total0) ))%"; }

start serve "$tf" serve --config serve.json
serve_addr=$(wait_for serve 's/.*serving on \([0-9.:]*\).*/\1/p')

# The same serve on a PostgreSQL registry: postgres runs as the postgres
# user (initdb and postgres refuse root) on a data dir outside $work (which
# is 0700), trusting loopback connections; fsync off, as a bench.
if [[ $run_pg == 1 ]]; then
  pgbin=$(dirname "${pg_bins[-1]}")
  pgdir=$(mktemp -d) && chmod 755 "$pgdir" && mkdir "$pgdir/data"
  asuser=(); [[ $(id -u) -eq 0 ]] && { chown postgres: "$pgdir/data"; asuser=(setpriv --reuid=postgres --regid=postgres --init-groups); }
  (cd / && "${asuser[@]}" "$pgbin/initdb" -D "$pgdir/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null)
  pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  start postgres "${asuser[@]}" "$pgbin/postgres" -D "$pgdir/data" -p "$pgport" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories= -c fsync=off -c synchronous_commit=off
  wait_for postgres '/ready to accept connections/p' >/dev/null
  pgurl="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"
  "$tf" releases add --registry "$pgurl" --registry-key file:registry.key release.json >/dev/null
  sed "s|\"registry\": \"reg.db\"|\"registry\": \"$pgurl\"|" serve.json >serve-pg.json
  start servepg "$tf" serve --config serve-pg.json
  servepg_addr=$(wait_for servepg 's/.*serving on \([0-9.:]*\).*/\1/p')
fi
scheme=http tls_flags=() jwks_ca=() binding=()
[[ $serve_tls == 1 ]] && { scheme=https tls_flags=(-ca ca.pem -cert client.pem -key client.key) jwks_ca=(--jwks-ca ca.pem) binding=(--require-binding); }
serve_url="$scheme://$serve_addr"

start upstream "$lg" upstream -addr-file upstream.addr -for "${life}s"
for _ in $(seq 100); do [[ -s upstream.addr ]] && break; sleep 0.05; done
start guard "$tf" guard --listen 127.0.0.1:0 --upstream "http://$(cat upstream.addr)" \
  --tls-cert server.pem --tls-key server.key --client-ca ca.pem --jwks-url "$serve_url/.well-known/jwks.json" "${jwks_ca[@]}" \
  --issuer https://attest.bench --audience api.bench --package com.example.bench "${binding[@]}"
guard_addr=$(wait_for guard 's/.*listening" addr=\([0-9.:]*\).*/\1/p')
serve_pid=$(cat serve.pid) guard_pid=$(cat guard.pid)

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "serve $serve_url (tls=$serve_tls), guard https://$guard_addr, upstream http://$(cat upstream.addr); $(nproc) cores, $dur per run"
# pairs URL PID: challenge + attest pairs against serve at URL (process PID).
pairs() {
  local before after out n
  before=$(cpu_s "$2"); idle_mark
  out=$(/usr/bin/time -f '%U %S' -o loadgen.time "$lg" attest -url "$1" -release release.json -c "$c" -d "$dur" "${tls_flags[@]}")
  after=$(cpu_s "$2")
  echo "$out"
  echo "machine  idle       $(idle_since) of the CPU during the pairs"
  n=$(awk '$2 == "attest" {print $NF}' <<<"$out")
  awk -v b="$before" -v a="$after" -v v="$n" 'BEGIN {
    printf "serve    cpu        %.2f CPU-s for %d pairs: %.0f us per pair, %.0f pairs/s per core\n", a - b, v, (a - b) / v * 1e6, v / (a - b) }'
  awk -v v="$n" '{printf "loadgen  cpu        %.2f CPU-s for %d pairs: %.0f us per pair (on the same cores)\n", $1 + $2, v, ($1 + $2) / v * 1e6}' loadgen.time
}
declare -A bolt_by_c
for c in $concs; do
  echo "registry bbolt"
  bolt=$(pairs "$serve_url" "$serve_pid"); echo "$bolt"; bolt_by_c[$c]=$bolt
  if [[ $run_pg == 1 ]]; then
    echo "registry PostgreSQL"
    pgout=$(pairs "$scheme://$servepg_addr" "$(cat servepg.pid)"); echo "$pgout"
    # attest rows: $5 is pairs/s ("6100/s"), $13 the p99 in ms; cpu rows: $8
    # is serve's CPU time per pair in us (less sensitive to a loaded machine).
    awk -v c="$c" 'FNR == 1 {f++} $2 == "attest" {r[f] = $5 + 0; p[f] = $13} $1 == "serve" && $2 == "cpu" {u[f] = $8}
      END {printf "registry c=%-3d bbolt %.0f pairs/s p99 %s ms %s us/pair, PostgreSQL %.0f pairs/s p99 %s ms %s us/pair: " \
        "PostgreSQL/bbolt %.3f (%+.1f%%)\n", c, r[1], p[1], u[1], r[2], p[2], u[2], r[2] / r[1], (r[2] / r[1] - 1) * 100}' \
      <(echo "$bolt") <(echo "$pgout")
  fi
  before=$(cpu_s "$serve_pid")
  cout=$("$lg" certificate -url "$serve_url" -release attested.json -root karoot.pem -root-key karoot.key -c "$c" -d "$dur" "${tls_flags[@]}")
  after=$(cpu_s "$serve_pid")
  echo "$cout"
  awk -v p="$(awk '$2 == "attest" {print $5 + 0}' <<<"$bolt")" -v i="$(awk '$2 == "certificate" {print $5 + 0}' <<<"$cout")" \
    -v n="$(awk '$2 == "certificate" {print $NF}' <<<"$cout")" -v b="$before" -v a="$after" 'BEGIN {
    printf "serve    certificate issuances/s %.0f vs challenge+attest pairs/s %.0f: %.2f; %.0f us serve CPU per issuance\n", i, p, i / p, (a - b) / n * 1e6 }'
done
for c in $concs; do
  before=$(cpu_s "$guard_pid")
  out=$("$lg" guard -url "https://$guard_addr/api/hello" -serve "$serve_url" -release release.json -c "$c" -d "$dur" \
    -ca ca.pem -cert client.pem -key client.key -token-out token.txt)
  after=$(cpu_s "$guard_pid")
  echo "$out"
  n=$(awk '$2 == "get" {print $NF}' <<<"$out")
  awk -v b="$before" -v a="$after" -v v="$n" 'BEGIN {
    printf "guard    cpu        %.2f CPU-s for %d requests: %.0f us per request, %.0f requests/s per core\n", a - b, v, (a - b) / v * 1e6, v / (a - b) }'
done

if [[ $run_wrk == 1 ]] && command -v wrk >/dev/null; then
  for c in $concs; do
    for target in "$serve_url/healthz" "http://$(cat upstream.addr)/"; do
      hdr=(); [[ $target == http://$(cat upstream.addr)/ ]] && hdr=(-H "X-TrustFuse-Package: bench")
      before=$(cpu_s "$serve_pid"); idle_mark
      /usr/bin/time -f '%U %S' -o wrk.time wrk -t2 -c"$c" -d"$dur" --latency "${hdr[@]}" "$target" >wrk.out
      after=$(cpu_s "$serve_pid") idle=$(idle_since)
      # On serve's /healthz: serve's and wrk's CPU per request, to set
      # against the pairs' (serve's and the generator's CPU per pair).
      awk -v t="$target" -v c="$c" -v s="$(awk -v b="$before" -v a="$after" 'BEGIN {print a - b}')" -v w="$(awk '{print $1 + $2}' wrk.time)" -v idle="$idle" \
        -v on_serve="$([[ $target == "$serve_url/healthz" ]] && echo 1)" '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
          /Non-2xx|Socket errors/ {e=e $0} /^ +[0-9]+ requests in/ {n=$1}
          END {printf "wrk      %-30s c=%-3d %9.0f/s  p50 %8s  p99 %8s  %s\n", t, c, r, p50, p99, (e == "" ? "errors 0" : e)
            if (on_serve) printf "wrk      cpu        serve %.0f us + wrk %.0f us per request; machine idle %s\n", s / n * 1e6, w / n * 1e6, idle}' wrk.out
      if [[ $target == "$serve_url/healthz" ]]; then
        # Issue 16's ratio: attestation requests (challenge and attest each
        # count) against wrk's trivial TLS requests, same c, same run.
        awk -v c="$c" -v p="$(awk '$2 == "attest" {print $5 + 0}' <<<"${bolt_by_c[$c]}")" '/Requests\/sec/ {
          printf "ratio    c=%-3d %.0f attestation requests/s (2 x %.0f pairs/s) / wrk %.0f/s = %.1f%%\n", c, 2 * p, p, $2, 200 * p / $2 }' wrk.out
      fi
    done
  done
  echo "wrk      (not through guard: wrk cannot present a TLS client certificate, guard refuses the handshake)"
fi

if [[ $profile == 1 ]]; then
  "$lg" inproc -release release.json -c 8 -d "$dur" -cpuprofile inproc.prof
  echo "pprof (in-process serve handler + generator), top cumulative:"
  go tool pprof -top -cum -nodecount 45 "$lg" inproc.prof 2>/dev/null |
    grep -E 'attest\.|jose|ecdsa\.Sign|json\.|jcs\.|mallocgc|gcBgMark|aes|hmac' | head -25 || true
  if command -v perf >/dev/null; then
    # perf_top PID NAME LOAD...: samples PID for 5 s while LOAD runs; prints
    # the inclusive share of the interesting frames.
    perf_top() {
      local pid=$1 name=$2; shift 2
      perf record -q -F 499 -g -p "$pid" -o "perf-$name.data" -- sleep 5 >/dev/null 2>&1 &
      local perf_pid=$!
      "$@" >/dev/null
      wait "$perf_pid" || true
      echo "perf on the $name process, inclusive (children) and self:"
      perf report -i "perf-$name.data" --stdio --children --sort symbol 2>/dev/null | grep -E '^ +[0-9.]+%' |
        grep -E "$pat" | head -22 | awk '{s=$4; for (i=5;i<=NF && $i!="-";i++) s=s" "$i; printf "  %7s %7s  %s\n", $1, $2, substr(s,1,110)}' || true
    }
    pat='attest\.|jose|ecdsa\.|json\.|jcs\.|tls\.\(\*Conn\)\.(Read|Write)|do_syscall|mallocgc|gcBgMark|conn\)\.serve|guard\.|ReverseProxy|Transport\)\.(dial|roundTrip)|x509|tcp_v4_connect|aead|hmac'
    perf_top "$serve_pid" serve "$lg" attest -url "$serve_url" -release release.json -c 32 -d 5s "${tls_flags[@]}"
    perf_top "$guard_pid" guard "$lg" guard -url "https://$guard_addr/api/hello" -serve "$serve_url" -release release.json -c 32 -d 5s \
      -ca ca.pem -cert client.pem -key client.key
  fi
fi

# Stop the servers (graceful) and read their peak RSS.
stop_all
grep -h "upstream accepted" upstream.log || true
for n in serve guard upstream $([[ $run_pg == 1 ]] && echo servepg); do
  awk -F': ' -v n="$n" '/Maximum resident set size/ {rss=$2} /User time/ {u=$2} /System time/ {s=$2}
    END {printf "rss      %-8s peak %6.1f MiB  cpu %.1f s user + %.1f s sys\n", n, rss/1024, u, s}' "$n.time"
done
