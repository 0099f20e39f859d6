#!/usr/bin/env bash
# Build the container image from the Dockerfile and check it, with no Docker daemon and no Docker Hub (CI's
# step after the tests, .ci/run). Debian's buildah builds it (`buildah bud --isolation chroot --format docker`)
# on a stand-in for python:3.11-slim: a minimal bookworm with python3 made by debootstrap (passed as the
# Dockerfile's BASE). Then it runs the image's CMD in a buildah working container and checks: the HEALTHCHECK
# in the image config, the process's uid (the image's USER, 10001) and working directory, the health endpoint,
# a verify flow over HTTP finished with the SMS read from the control plane, the HEALTHCHECK command run in the
# container, and a SIGTERM stop within 2 s with exit status 0.
#
# Needs root (debootstrap, buildah's storage and chroot isolation); installs buildah and debootstrap with
# apt-get when missing. The container shares this machine's network, on a free port (PROVE_EMULATOR_PORT).
# Environment:
#   IMAGE_CHECK_BASE    an image already in buildah's storage to build on, e.g. python:3.11-slim pulled before
#                       (default: localhost/prove-emulator-base:bookworm, made here once, then reused)
#   IMAGE_CHECK_CACHE   where the debootstrap tarball is kept (default /var/tmp/prove-emulator-image)
#   IMAGE_CHECK_MIRROR  the Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   IMAGE_CHECK_IMAGE   the tag built and checked (default localhost/prove-emulator:check)
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE_CHECK_IMAGE:-localhost/prove-emulator:check}
BASE=${IMAGE_CHECK_BASE:-}
CACHE=${IMAGE_CHECK_CACHE:-/var/tmp/prove-emulator-image}
MIRROR=${IMAGE_CHECK_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
EXPECTED_UID=10001
STOP_LIMIT_MS=2000

started=$(date +%s)
say() { printf 'image-check: %s\n' "$*"; }
ok() { printf 'image-check: ok: %s\n' "$*"; }
fail() {
  printf 'image-check: FAILED: %s\n' "$*" >&2
  if [ -n "${run_log:-}" ] && [ -s "$run_log" ]; then
    printf 'image-check: the container printed:\n' >&2
    tail -n 30 "$run_log" | sed 's/^/  | /' >&2
  fi
  exit 1
}

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/image-check.sh: run it as root (debootstrap, buildah's image storage and its chroot isolation" >&2
  echo "  need root; CI runs as root): sudo bash scripts/image-check.sh" >&2
  exit 1
fi

work=$(mktemp -d /tmp/prove-emulator-image-check.XXXXXX)
run_log=$work/container.log
cname=prove-emulator-check-$$
run_pid=
main_pid=
rootfs=
cleanup() {
  if [ -n "$main_pid" ] && [ -e "/proc/$main_pid" ]; then kill -KILL "$main_pid" 2>/dev/null || true; fi
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
    kill -TERM "$run_pid" 2>/dev/null || true
    wait "$run_pid" 2>/dev/null || true
  fi
  buildah rm "$cname" >/dev/null 2>&1 || true  # also unmounts it
  if [ -n "$rootfs" ]; then rm -rf --one-file-system "$rootfs"; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the tools -------------------------------------------------------------------------------------------
missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$work/apt.log" 2>&1 \
    || { tail -n 20 "$work/apt.log" >&2; fail "apt-get install ${missing[*]}"; }
fi
say "$(buildah --version)"

# --- the base: a stand-in for python:3.11-slim -----------------------------------------------------------
image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }
if [ -n "$BASE" ]; then
  image_exists "$BASE" || fail "IMAGE_CHECK_BASE=$BASE is not in buildah's storage (buildah images)"
  say "base: $BASE (IMAGE_CHECK_BASE)"
else
  BASE=localhost/prove-emulator-base:$SUITE
  if image_exists "$BASE"; then
    say "base: $BASE (made before; 'buildah rmi $BASE' makes it anew)"
  else
    mkdir -p "$CACHE"
    tarball=$CACHE/$SUITE-minbase-python3.tar
    if [ ! -s "$tarball" ]; then
      say "base: debootstrap $SUITE (minbase, python3, python3-venv) from $MIRROR"
      t0=$(date +%s)
      rootfs=$CACHE/rootfs.$$
      debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$rootfs" "$MIRROR" \
        >"$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
      # What an image needs not: downloaded packages, package lists, documentation.
      rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
      tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
      rm -rf --one-file-system "$rootfs"
      rootfs=
      say "base: debootstrap took $(($(date +%s) - t0)) s ($(du -h "$tarball" | cut -f1)), kept in $tarball"
    fi
    # This machine's CA bundle goes into the base, and pip is told to use it (pip trusts only its own
    # bundle otherwise): the build's pip then reaches PyPI as this machine does, also through a TLS proxy.
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$work/pip.conf"
    base_ctr=$(buildah from --quiet scratch)
    buildah add --quiet "$base_ctr" "$tarball" / >/dev/null
    if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
      buildah copy --quiet "$base_ctr" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt >/dev/null
      buildah copy --quiet "$base_ctr" "$work/pip.conf" /etc/pip.conf >/dev/null
    fi
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
      --cmd '["python3"]' "$base_ctr"
    buildah commit --quiet --format docker --rm "$base_ctr" "$BASE" >/dev/null
    say "base: imported as $BASE"
  fi
fi

# --- the build -------------------------------------------------------------------------------------------
say "building $IMAGE: buildah bud --isolation chroot --format docker --build-arg BASE=$BASE"
t0=$(date +%s)
buildah rmi "$IMAGE" >/dev/null 2>&1 || true  # else each run leaves the previous build behind, untagged
buildah bud --isolation chroot --format docker --pull-never --build-arg "BASE=$BASE" -t "$IMAGE" . \
  >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; fail "buildah bud (the build's last lines above)"; }
ok "built $IMAGE in $(($(date +%s) - t0)) s"

# --- the image config ------------------------------------------------------------------------------------
buildah inspect --type image "$IMAGE" >"$work/image.json"
eval "$(python3 - "$work/image.json" <<'EOF'
import json, shlex, sys
config = json.load(open(sys.argv[1]))["Docker"].get("config") or {}
test = (config.get("Healthcheck") or {}).get("Test") or []
command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
print("CFG_USER=%s" % shlex.quote(config.get("User") or ""))
print("CFG_WORKDIR=%s" % shlex.quote(config.get("WorkingDir") or ""))
print("CFG_PORTS=%s" % shlex.quote(" ".join(sorted(config.get("ExposedPorts") or {}))))
print("CFG_COMMAND=(%s)" % " ".join(shlex.quote(word) for word in command))
print("HC_TEST=(%s)" % " ".join(shlex.quote(word) for word in test))
EOF
)"
[ ${#HC_TEST[@]} -ge 2 ] && [ "${HC_TEST[0]}" != NONE ] \
  || fail "no HEALTHCHECK in the image config (an OCI-format image drops it: build with --format docker)"
case "${HC_TEST[0]}" in
  CMD-SHELL) hc_command=(/bin/sh -c "${HC_TEST[1]}") ;;
  CMD) hc_command=("${HC_TEST[@]:1}") ;;
  *) fail "unknown HEALTHCHECK test ${HC_TEST[0]}" ;;
esac
ok "image config: HEALTHCHECK ${HC_TEST[0]} present (Docker format)"
[ -n "$CFG_USER" ] && [ "$CFG_USER" != root ] && [ "$CFG_USER" != 0 ] \
  || fail "image config: USER is '${CFG_USER:-unset}', not a non-root user"
[ "$CFG_PORTS" = 7768/tcp ] || fail "image config: EXPOSE is '$CFG_PORTS', not 7768/tcp"
[ ${#CFG_COMMAND[@]} -gt 0 ] || fail "image config: no CMD"
ok "image config: USER $CFG_USER, WORKDIR $CFG_WORKDIR, EXPOSE $CFG_PORTS, CMD ${CFG_COMMAND[*]}"

# --- run it ----------------------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base_url=http://127.0.0.1:$port
buildah from --quiet --pull-never --name "$cname" "$IMAGE" >/dev/null
# chroot isolation: no network namespace, so the container listens on this machine's port $port.
buildah run --isolation chroot --env "PROVE_EMULATOR_PORT=$port" "$cname" -- "${CFG_COMMAND[@]}" >"$run_log" 2>&1 &
run_pid=$!
say "started the CMD in $cname (buildah run, pid $run_pid), PROVE_EMULATOR_PORT=$port"

# The CMD's own process, below buildah run's (buildah-chroot-runtime, buildah-chroot-exec): the descendant
# named after the CMD's program (a process's comm: its first 15 characters), so one that has exec'd it.
cmd_name=$(basename "${CFG_COMMAND[0]}")
cmd_name=${cmd_name:0:15}
for _ in $(seq 1 100); do
  kill -0 "$run_pid" 2>/dev/null || fail "the container exited at start"
  pids=("$run_pid")
  while [ ${#pids[@]} -gt 0 ] && [ -z "$main_pid" ]; do
    children=()
    for pid in "${pids[@]}"; do
      if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$cmd_name" ]; then main_pid=$pid; break; fi
      mapfile -t -O ${#children[@]} children < <(pgrep -P "$pid" || true)
    done
    pids=("${children[@]}")
  done
  [ -z "$main_pid" ] || break
  sleep 0.1
done
[ -n "$main_pid" ] || fail "found no process of the CMD under buildah run"
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$main_pid/status")
[ "$uids" = "$EXPECTED_UID $EXPECTED_UID $EXPECTED_UID $EXPECTED_UID" ] \
  || fail "the CMD's process $main_pid runs as uid '$uids', not $EXPECTED_UID (the image's USER $CFG_USER)"
ok "the CMD runs as uid $EXPECTED_UID ($CFG_USER; pid $main_pid: $(tr '\0' ' ' <"/proc/$main_pid/cmdline"))"
cwd=$(readlink "/proc/$main_pid/cwd")
[[ "$cwd" == *"$CFG_WORKDIR" ]] || fail "the CMD's working directory is $cwd, not the image's WORKDIR $CFG_WORKDIR"
ok "the CMD's working directory is the image's WORKDIR $CFG_WORKDIR"

python3 - "$base_url" "$main_pid" <<'EOF' || fail "the emulator in the container (above)"
import json, os, sys, time, urllib.parse, urllib.request

base, pid = sys.argv[1], int(sys.argv[2])


def call(method, path, body=None, form=None, token=None):
    headers, data = {}, None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)


def check(condition, message):
    if not condition:
        sys.exit("image-check: FAILED: " + message)


deadline = time.monotonic() + 30
while True:
    try:
        health = call("GET", "/__emulator/health")
        break
    except OSError as error:
        check(os.path.exists("/proc/%d" % pid), "the emulator exited before it was healthy")
        check(time.monotonic() < deadline, "GET /__emulator/health: no answer within 30 s (%s)" % error)
        time.sleep(0.2)
check(health.get("status") == "ok", "GET /__emulator/health answered %r" % health)
print("image-check: ok: GET /__emulator/health: status ok, version %s" % health.get("version"))

token = call("POST", "/token", form={"grant_type": "client_credentials", "client_id": "sandbox-client-id",
                                     "client_secret": "sandbox-client-secret"})["access_token"]
phone = "2025550100"
started = call("POST", "/v3/verify", token=token, body={"firstName": "Tod", "lastName": "Weedall",
                                                         "phoneNumber": phone, "possessionType": "mobile"})
correlation = started["correlationId"]
check(started.get("success") == "pending", "POST /v3/verify answered %r" % started)
step = call("POST", "/__emulator/flows/%s/customer" % correlation, body={"action": "start"})
check(step["reply"].get("next") == "mobile/otp", "the customer's start answered %r" % step["reply"])
messages = call("GET", "/__emulator/sms?" + urllib.parse.urlencode({"correlationId": correlation}))["messages"]
check(len(messages) == 1 and messages[0]["phoneNumber"] == phone and messages[0].get("otp"),
      "GET /__emulator/sms: %r" % messages)
code = messages[0]["otp"]
check(code in messages[0]["body"], "the SMS does not carry its code: %r" % messages[0])
call("POST", "/__emulator/flows/%s/customer" % correlation, body={"action": "enter-code", "code": code})
status = call("POST", "/v3/verify-status", token=token, body={"correlationId": correlation})
check((status.get("success"), status.get("possessionResult"), status.get("verifyResult"))
      == ("true", "success", "success"), "POST /v3/verify-status answered %r" % status)
print("image-check: ok: verify flow: /token, /v3/verify, the SMS's code %s read from /__emulator/sms and"
      " entered, /v3/verify-status success" % code)
EOF

# The HEALTHCHECK's own command, in the container, as Docker would run it (with the container's env).
hc_status=0
timeout 10 buildah run --isolation chroot --env "PROVE_EMULATOR_PORT=$port" "$cname" -- "${hc_command[@]}" \
  >"$work/healthcheck.log" 2>&1 || hc_status=$?
if [ "$hc_status" -ne 0 ]; then
  sed 's/^/  | /' "$work/healthcheck.log" >&2
  fail "the HEALTHCHECK command exited $hc_status in the running container"
fi
ok "the HEALTHCHECK command exits 0 in the container"

# docker stop: SIGTERM to the container's main process; it must be gone within 2 s.
t0=$(date +%s%N)
kill -TERM "$main_pid"
stopped_ms=
while :; do
  elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
  state=$(awk '{print $3}' "/proc/$main_pid/stat" 2>/dev/null || echo gone)
  if [ "$state" = gone ] || [ "$state" = Z ]; then stopped_ms=$elapsed_ms; break; fi
  [ "$elapsed_ms" -lt "$STOP_LIMIT_MS" ] || break
  sleep 0.05
done
[ -n "$stopped_ms" ] || fail "the CMD's process was still running ${STOP_LIMIT_MS} ms after SIGTERM"
main_pid=
run_status=0
wait "$run_pid" || run_status=$?
run_pid=
[ "$run_status" -eq 0 ] || fail "the CMD exited with status $run_status after SIGTERM, not 0"
! grep -q Traceback "$run_log" || fail "the container printed a traceback"
ok "SIGTERM: the CMD exited with status 0 in ${stopped_ms} ms (limit ${STOP_LIMIT_MS} ms)"

# And the HEALTHCHECK does fail when nothing answers (it checks something).
if timeout 10 buildah run --isolation chroot --env "PROVE_EMULATOR_PORT=$port" "$cname" -- "${hc_command[@]}" \
  >/dev/null 2>&1; then
  fail "the HEALTHCHECK command exits 0 with the emulator stopped"
fi
ok "the HEALTHCHECK command fails with the emulator stopped"

# The state directory the image provides: /state is the emulator user's, and an emulator started again on
# it holds what the first wrote (the Dockerfile's PROVE_EMULATOR_STATE_DIR=/state advice, with a volume).
state_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
timeout 120 buildah run --isolation chroot --env "PROVE_EMULATOR_PORT=$state_port" --env PROVE_EMULATOR_STATE_DIR=/state \
  "$cname" -- python -c '
import json, os, subprocess, sys, time, urllib.request

base = "http://127.0.0.1:%s" % os.environ["PROVE_EMULATOR_PORT"]


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)


def started():
    emulator = subprocess.Popen(["prove-emulator"])
    deadline = time.monotonic() + 30
    while True:
        try:
            call("GET", "/__emulator/health")
            return emulator
        except OSError:
            if emulator.poll() is not None or time.monotonic() > deadline:
                sys.exit("the emulator with PROVE_EMULATOR_STATE_DIR=/state did not start")
            time.sleep(0.2)


first = started()
call("PUT", "/__emulator/projects/kept-in-state", {"clientSecret": "s"})
first.terminate()
first.wait(10)
second = started()
kept = [p["clientId"] for p in call("GET", "/__emulator/projects")["projects"]]
second.terminate()
second.wait(10)
sys.exit(0 if "kept-in-state" in kept else "a restart on /state lost the project: %r" % kept)
' >"$work/state-dir.log" 2>&1 || { sed 's/^/  | /' "$work/state-dir.log" >&2; fail "the state directory /state (above)"; }
ok "PROVE_EMULATOR_STATE_DIR=/state: the image's user writes it, and a restart holds what was written"

say "passed in $(($(date +%s) - started)) s"
