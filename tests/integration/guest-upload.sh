#!/bin/bash
# `guestdump-guest upload` (the command guestdump-guest-upload.service runs, run here directly,
# without systemd) on a guest dump directory. The dump directories are written in the layout
# `guestdump-guest capture` leaves (0700 <stamp>/ with 0600 vmcore, dmesg.txt, meta.json saying
# "complete"; a failure record without vmcore; an interrupted .<stamp>.partial/); the vmcore is
# random bytes, which the upload does not look into. One case:
#   ssh  a real sshd on 127.0.0.1 (its own config, host key, authorized_keys and port): the dumps
#        land under PATH/<host>/<uuid>/<stamp>/ equal to the local files (modes 0700/0600, no
#        .part left), meta.json records url, state and SHA-256 on both sides, keep-local 1
#        deletes the older uploaded dumps and nothing else; an unknown host key and a stopped
#        sshd each fail with a clear line naming the target and the dump, which stays intact;
#        with sshd back the next run uploads it
#   s3   the real RGW (fixture `rgw`): the same layout under s3://BUCKET/PREFIX, objects equal to
#        the local files, keep-local 0 deletes them once uploaded; a wrong secret key fails
#        naming the dump and leaves it
# Environment: GUESTDUMP_GUEST (the static binary; it execs guestdump-guest-upload next to it),
# WORK, RGW_DIR (s3).
set -euo pipefail
: "${GUESTDUMP_GUEST:?}" "${WORK:?}"
G=$GUESTDUMP_GUEST
PY=/usr/bin/python3
case_name=${1:?case}

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
rm -rf "$WORK" && mkdir -p "$WORK"
[ -x "$(dirname "$G")/guestdump-guest-upload" ] || fail "no guestdump-guest-upload next to $G"

meta() { # FILE KEY/KEY...: a value of a JSON file ("" when absent)
    "$PY" -c 'import json,sys; v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("/"):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)' "$1" "$2"; }

# make_dump STORE STAMP UNIX_TIME [failed]: a dump directory as capture writes it.
make_dump() {
    local d=$1/$2
    mkdir -p "$1" && chmod 700 "$1"
    mkdir -m 700 "$d"
    (umask 077
     echo "[    0.000000] Linux version 6.1.0 ($2)" > "$d/dmesg.txt"
     [ "${4:-}" = failed ] || head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom > "$d/vmcore"
     "$PY" - "$d/meta.json" "$3" "${4:-complete}" <<'EOF'
import json, sys
status = "complete" if sys.argv[3] == "complete" else "failed: No space left on device"
json.dump({"schema": 1, "tool": "guestdump-guest", "tool_version": "0", "domain": "", "uuid": "",
           "host": "", "trigger": "kdump", "capture_path": "guest-vmcore",
           "started_at": int(sys.argv[2]), "finished_at": int(sys.argv[2]) + 3,
           "dump_level": 31, "codec": "zstd", "status": status}, open(sys.argv[1], "w"), indent=2)
EOF
    )
}

# The <uuid> level the upload must use: SMBIOS system UUID, else machine-id (upload.h).
expected_uuid() {
    "$PY" - <<'EOF'
import re
def read(p):
    try: return open(p).read().strip().lower()
    except OSError: return ""
d = read("/sys/class/dmi/id/product_uuid")
if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", d): print(d)
else:
    m = read("/etc/machine-id")
    print(f"{m[:8]}-{m[8:12]}-{m[12:16]}-{m[16:20]}-{m[20:]}" if re.fullmatch(r"[0-9a-f]{32}", m) else "unknown")
EOF
}
UUID=$(expected_uuid)
[ -n "$UUID" ] || fail "no uuid"

store=$WORK/crash
saved=$WORK/saved # copies of the local dumps, to compare after they are deleted
make_dump "$store" 20261201T100000Z 1764583200
make_dump "$store" 20261202T100000Z 1764669600
make_dump "$store" 20261202T110000Z 1764673200 failed
make_dump "$store" 20261203T100000Z 1764756000
mkdir -m 700 "$store/.20261203T120000Z.partial" && echo x > "$store/.20261203T120000Z.partial/vmcore"
cp -a "$store" "$saved"

# expect_intact STAMP: the dump is as it was before the upload, and says it was not uploaded.
expect_intact() {
    for f in vmcore dmesg.txt; do
        cmp -s "$store/$1/$f" "$saved/$1/$f" || fail "local $1/$f changed or went missing"
    done
    [ -z "$(meta "$store/$1/meta.json" upload)" ] || fail "$1 says it was uploaded"
}

case $case_name in
ssh)
    sshd_dir=$WORK/sshd
    mkdir -p "$sshd_dir" /run/sshd
    ssh-keygen -q -t ed25519 -N '' -C test-host -f "$sshd_dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -C guest -f "$WORK/id_ed25519"
    cp "$WORK/id_ed25519.pub" "$sshd_dir/authorized_keys"
    chmod 600 "$sshd_dir/authorized_keys"
    port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat > "$sshd_dir/sshd_config" <<EOF
ListenAddress 127.0.0.1:$port
HostKey $sshd_dir/host_key
PidFile $sshd_dir/sshd.pid
AuthorizedKeysFile $sshd_dir/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The work directory's parents belong to whoever checked the tree out.
StrictModes no
Subsystem sftp internal-sftp
EOF
    sshd_pid=
    start_sshd() {
        /usr/sbin/sshd -D -f "$sshd_dir/sshd_config" -E "$sshd_dir/sshd.log" &
        sshd_pid=$!
        for _ in $(seq 100); do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
            kill -0 "$sshd_pid" 2>/dev/null || fail "sshd exited: $(cat "$sshd_dir/sshd.log")"
            sleep 0.1
        done
        fail "sshd did not listen on $port"
    }
    stop_sshd() {
        if [ -n "$sshd_pid" ]; then kill "$sshd_pid" 2>/dev/null || true; wait "$sshd_pid" 2>/dev/null || true; fi
        sshd_pid=
    }
    trap stop_sshd EXIT
    start_sshd
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$sshd_dir/host_key.pub")" > "$WORK/known_hosts"
    remote=$WORK/remote
    target="ssh://root@127.0.0.1:$port$remote/fleet"
    cat > "$WORK/default" <<EOF
# as /etc/default/guestdump-guest
GUESTDUMP_TARGET_DEVICE="LABEL=dumps"
GUESTDUMP_UPLOAD="$target"
GUESTDUMP_SSH_KEY="$WORK/id_ed25519"
GUESTDUMP_SSH_KNOWN_HOSTS="$WORK/known_hosts"
GUESTDUMP_DUMP_DIR="$store"
GUESTDUMP_KEEP_LOCAL=1
GUESTDUMP_METRICS_FILE="$WORK/metrics/guestdump-guest.prom"
EOF
    mkdir -p "$WORK/metrics"
    # metric 'NAME{LABELS}': its value in the run's metrics file
    metric() { awk -v n="$1" '$1 == n { print $2 }' "$WORK/metrics/guestdump-guest.prom"; }

    step "dry run: changes nothing"
    "$G" upload --config "$WORK/default" --dry-run > "$WORK/dry.out"
    cat "$WORK/dry.out"
    [ "$(grep -c '^would upload ' "$WORK/dry.out")" = 3 ] || fail "dry run: expected 3 uploads"
    [ ! -e "$remote" ] || fail "dry run touched the remote side"

    step "an unknown host key: refused without a prompt"
    : > "$WORK/empty_known_hosts"
    rc=0
    timeout 120 "$G" upload --config "$WORK/default" --ssh-known-hosts "$WORK/empty_known_hosts" \
        < /dev/null > "$WORK/out" 2> "$WORK/err" || rc=$?
    cat "$WORK/err"
    [ "$rc" = 1 ] || fail "unknown host key: exit $rc"
    grep -q "^guestdump-guest: error: upload: dump '$store/20261201T100000Z' to $target: sftp into " "$WORK/err" ||
        fail "the error does not name the dump and the target"
    grep -q "Host key verification failed" "$WORK/err" || fail "the error does not say why"
    for s in 20261201T100000Z 20261202T100000Z 20261203T100000Z; do expect_intact "$s"; done
    ! grep -q "PRIVATE KEY" "$WORK/err" "$WORK/out" || fail "key material in the output"

    step "upload to $target, keep-local 1"
    "$G" upload --config "$WORK/default" > "$WORK/out" 2> "$WORK/err" || fail "upload: $(cat "$WORK/err")"
    cat "$WORK/out" "$WORK/err"
    for s in 20261201T100000Z 20261202T100000Z 20261203T100000Z; do
        r=$remote/fleet/unknown/$UUID/$s
        [ -d "$r" ] || fail "no remote $r: $(find "$remote" | head -20)"
        [ "$(stat -c %a "$r")" = 700 ] || fail "remote $r is mode $(stat -c %a "$r")"
        for f in vmcore dmesg.txt; do
            cmp "$saved/$s/$f" "$r/$f" || fail "remote $s/$f differs from the local file"
            [ "$(stat -c %a "$r/$f")" = 600 ] || fail "remote $s/$f is mode $(stat -c %a "$r/$f")"
        done
        sum=$(sha256sum < "$saved/$s/vmcore" | cut -d' ' -f1)
        [ "$(meta "$r/meta.json" checksums/vmcore/sha256)" = "$sum" ] || fail "remote meta.json: vmcore SHA-256"
        [ "$(meta "$r/meta.json" upload/url)" = "$target/unknown/$UUID/$s/" ] ||
            fail "remote meta.json: url $(meta "$r/meta.json" upload/url)"
        [ "$(meta "$r/meta.json" upload/state)" = complete ] || fail "remote meta.json: state"
        [ "$(meta "$r/meta.json" uuid)" = "$UUID" ] || fail "remote meta.json: uuid"
        grep -q "^uploaded $store/$s to $target/unknown/$UUID/$s/\$" "$WORK/out" || fail "no 'uploaded' line for $s"
    done
    [ -z "$(find "$remote" -name '.*.part')" ] || fail "a temporary directory is left: $(find "$remote" -name '.*.part')"
    [ ! -e "$remote/fleet/unknown/$UUID/20261202T110000Z" ] || fail "the failure record was uploaded"
    # keep-local 1: the newest stays (recorded as uploaded); the two older uploaded ones go; the
    # failure record and the interrupted directory are not the upload's business.
    [ ! -e "$store/20261201T100000Z" ] && [ ! -e "$store/20261202T100000Z" ] || fail "keep-local 1 kept older uploaded dumps"
    cmp -s "$store/20261203T100000Z/vmcore" "$saved/20261203T100000Z/vmcore" || fail "the newest dump changed"
    [ "$(meta "$store/20261203T100000Z/meta.json" upload/state)" = complete ] || fail "local meta.json: upload state"
    [ "$(meta "$store/20261203T100000Z/meta.json" checksums/vmcore/sha256)" = \
      "$(sha256sum < "$saved/20261203T100000Z/vmcore" | cut -d' ' -f1)" ] || fail "local meta.json: SHA-256"
    [ -e "$store/20261202T110000Z/dmesg.txt" ] || fail "the failure record was deleted"
    [ -e "$store/.20261203T120000Z.partial/vmcore" ] || fail "the interrupted directory was touched"
    [ "$(grep -c '^deleted ' "$WORK/out")" = 2 ] || fail "expected two 'deleted' lines"
    # The run's metrics (node-exporter textfile, 0644 for the collector).
    [ "$(stat -c %a "$WORK/metrics/guestdump-guest.prom")" = 644 ] || fail "metrics file mode"
    bytes=$(cat "$saved"/2026120[123]T100000Z/* | wc -c)
    for m in 'guestdump_guest_upload_last_run_dumps{outcome="uploaded"} 3' \
             'guestdump_guest_upload_last_run_dumps{outcome="failed"} 0' \
             'guestdump_guest_upload_last_run_dumps{outcome="deleted"} 2' \
             'guestdump_guest_upload_last_run_success 1' 'guestdump_guest_upload_backlog 0'; do
        [ "$(metric "${m% *}")" = "${m##* }" ] || fail "metrics: ${m% *} is '$(metric "${m% *}")', expected ${m##* }"
    done
    # The uploaded files' bytes: vmcore, dmesg.txt and meta.json, which the upload rewrote with
    # its uuid (so not smaller than the saved copies).
    [ "$(metric guestdump_guest_upload_last_run_bytes)" -ge "$bytes" ] ||
        fail "metrics: $(metric guestdump_guest_upload_last_run_bytes) bytes, the files hold $bytes"

    step "a second run has nothing to do"
    "$G" upload --config "$WORK/default" > "$WORK/out" 2> "$WORK/err" || fail "second run: $(cat "$WORK/err")"
    ! grep -q '^uploaded' "$WORK/out" || fail "second run uploaded again"

    step "an earlier run renamed the remote copy but did not record it: the same files count"
    cp "$saved/20261203T100000Z/meta.json" "$store/20261203T100000Z/meta.json"
    "$G" upload --config "$WORK/default" > "$WORK/out" 2> "$WORK/err" || fail "re-record: $(cat "$WORK/err")"
    grep -q "^uploaded $store/20261203T100000Z to $target/unknown/$UUID/20261203T100000Z/\$" "$WORK/out" ||
        fail "the dump already there was not recorded: $(cat "$WORK/out" "$WORK/err")"
    [ "$(meta "$store/20261203T100000Z/meta.json" upload/state)" = complete ] || fail "not recorded locally"
    [ -z "$(find "$remote" -name '.*.part')" ] || fail "the second copy's temporary directory is left"
    cmp "$saved/20261203T100000Z/vmcore" "$remote/fleet/unknown/$UUID/20261203T100000Z/vmcore" ||
        fail "the remote copy changed"

    step "a remote copy with other contents under the final name: not replaced, not recorded"
    r3=$remote/fleet/unknown/$UUID/20261203T100000Z
    echo tampered >> "$r3/vmcore"
    cp "$saved/20261203T100000Z/meta.json" "$store/20261203T100000Z/meta.json"
    rc=0
    "$G" upload --config "$WORK/default" > "$WORK/out" 2> "$WORK/err" || rc=$?
    cat "$WORK/err"
    [ "$rc" = 1 ] || fail "a different remote copy: exit $rc"
    grep -q "^guestdump-guest: error: upload: dump '$store/20261203T100000Z' to $target: '$r3' already exists with other contents (remote '$r3/vmcore': SHA-256 [0-9a-f]* differs from the local file's [0-9a-f]*); left as it is, not recorded\$" "$WORK/err" ||
        fail "the error does not say the remote copy differs"
    expect_intact 20261203T100000Z
    [ "$(tail -c 9 "$r3/vmcore")" = tampered ] || fail "the remote copy was replaced"
    cp "$saved/20261203T100000Z/vmcore" "$r3/vmcore" # as it was: the next run records it

    step "sshd stopped: the new dump stays, intact, with a clear error"
    make_dump "$store" 20261204T100000Z 1764842400
    cp -a "$store/20261204T100000Z" "$saved/"
    stop_sshd
    rc=0
    timeout 120 "$G" upload --config "$WORK/default" < /dev/null > "$WORK/out" 2> "$WORK/err" || rc=$?
    cat "$WORK/err"
    [ "$rc" = 1 ] || fail "sshd stopped: exit $rc"
    grep -q "^guestdump-guest: error: upload: dump '$store/20261204T100000Z' to $target: sftp into .*: sftp exited with status 255: .*Connection refused" "$WORK/err" ||
        fail "the error does not name the dump, the target and the reason"
    expect_intact 20261204T100000Z
    # 20261203T100000Z (not recorded by the step before) and the new one both wait.
    for m in 'guestdump_guest_upload_last_run_dumps{outcome="failed"} 2' \
             'guestdump_guest_upload_last_run_success 0' 'guestdump_guest_upload_backlog 2'; do
        [ "$(metric "${m% *}")" = "${m##* }" ] || fail "metrics: ${m% *} is '$(metric "${m% *}")', expected ${m##* }"
    done

    step "sshd back: the next run uploads it"
    start_sshd
    "$G" upload --config "$WORK/default" > "$WORK/out" 2> "$WORK/err" || fail "after restart: $(cat "$WORK/err")"
    cmp "$saved/20261204T100000Z/vmcore" "$remote/fleet/unknown/$UUID/20261204T100000Z/vmcore" ||
        fail "the retried upload differs"
    [ ! -e "$store/20261203T100000Z" ] || fail "keep-local 1 kept the older uploaded dump"
    [ -e "$store/20261204T100000Z/vmcore" ] || fail "keep-local 1 deleted the newest dump"
    ;;
s3)
    : "${RGW_DIR:?}"
    [ -f "$RGW_DIR/env" ] || fail "no RGW: $RGW_DIR/env is missing (fixture.rgw.start)"
    set -a; . "$RGW_DIR/env"; set +a
    BUCKET=guestdump-guest-upload
    s3() { # METHOD PATH [curl args...]: the test's own requests, signed by the curl program
        local method=$1 path=$2; shift 2
        curl -sS -f --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
            -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X "$method" "$AWS_ENDPOINT_URL$path" "$@"
    }
    s3 PUT "/$BUCKET" -o /dev/null
    # No ~/.aws of the machine's: the environment from the fixture only.
    export HOME=$WORK
    target="s3://$BUCKET/guests"
    printf 'GUESTDUMP_UPLOAD="%s"\nGUESTDUMP_DUMP_DIR="%s"\nGUESTDUMP_KEEP_LOCAL=0\n' "$target" "$store" > "$WORK/default"

    step "a wrong secret key: refused, the dumps stay"
    rc=0
    AWS_SECRET_ACCESS_KEY=wrong "$G" upload --config "$WORK/default" > "$WORK/out" 2> "$WORK/err" || rc=$?
    cat "$WORK/err"
    [ "$rc" = 1 ] || fail "wrong secret: exit $rc"
    grep -q "^guestdump-guest: error: upload: dump '$store/20261201T100000Z' to $target: " "$WORK/err" ||
        fail "the error does not name the target and the dump"
    ! grep -q "wrong" "$WORK/err" || fail "the secret key appears in the output"
    for s in 20261201T100000Z 20261202T100000Z 20261203T100000Z; do expect_intact "$s"; done

    step "upload to $target, keep-local 0"
    "$G" upload --config "$WORK/default" > "$WORK/out" 2> "$WORK/err" || fail "upload: $(cat "$WORK/err")"
    cat "$WORK/out"
    for s in 20261201T100000Z 20261202T100000Z 20261203T100000Z; do
        key=guests/unknown/$UUID/$s
        for f in vmcore dmesg.txt; do
            s3 GET "/$BUCKET/$key/$f" -o "$WORK/got"
            cmp "$saved/$s/$f" "$WORK/got" || fail "s3 $key/$f differs from the local file"
        done
        s3 GET "/$BUCKET/$key/meta.json" -o "$WORK/got.json"
        [ "$(meta "$WORK/got.json" upload/url)" = "s3://$BUCKET/$key/" ] || fail "remote meta.json: url $(meta "$WORK/got.json" upload/url)"
        [ "$(meta "$WORK/got.json" checksums/vmcore/sha256)" = "$(sha256sum < "$saved/$s/vmcore" | cut -d' ' -f1)" ] ||
            fail "remote meta.json: SHA-256"
        [ ! -e "$store/$s" ] || fail "keep-local 0 kept the uploaded $s"
    done
    [ -e "$store/20261202T110000Z/dmesg.txt" ] || fail "the failure record was deleted"
    [ -e "$store/.20261203T120000Z.partial/vmcore" ] || fail "the interrupted directory was touched"
    ;;
*)
    fail "unknown case $case_name" ;;
esac
echo "PASS: guest-upload $case_name"
