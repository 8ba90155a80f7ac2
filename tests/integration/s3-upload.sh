#!/bin/bash
# The S3 dump store against a real single-node Ceph RGW (tests/fixtures/rgw/rgw.sh, CTest fixture
# `rgw`). Usage: s3-upload.sh CASE
#   dump     `guestdump dump --upload` of a panicked guest: vmcore, dmesg.txt and meta.json land
#            under PREFIX/<host>/<domain-uuid>/<timestamp>/, equal to the local files, with the
#            SHA-256 in meta.json, and no multipart upload is left open
#   restart  RGW stopped in the middle of a multipart upload and started again: the upload
#            completes; then the uploader killed mid-upload and run again: it resumes the same
#            upload. Both: the object is right and no multipart upload is left open
# Environment: GUESTDUMP, UPLOAD_TOOL (s3_upload_tool), RGW_DIR, WORK, GUESTDUMP_FIXTURE_CACHE.
set -euo pipefail
: "${GUESTDUMP:?}" "${UPLOAD_TOOL:?}" "${RGW_DIR:?}" "${WORK:?}"
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../fixtures
PY=/usr/bin/python3
case_name=${1:?case}

rm -rf "$WORK" && mkdir -p "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
[ -f "$RGW_DIR/env" ] || fail "no RGW: $RGW_DIR/env is missing (fixture.rgw.start)"
set -a; . "$RGW_DIR/env"; set +a
BUCKET=guestdump-$case_name
# Requests of the test's own, signed by the curl program (not by the code under test).
s3() { # METHOD PATH [curl args...]
    local method=$1 path=$2; shift 2
    curl -sS -f --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X "$method" "$AWS_ENDPOINT_URL$path" "$@"
}
open_uploads() { s3 GET "/$BUCKET?uploads=" | grep -o '<UploadId>[^<]*' | sed 's/<UploadId>//' || true; }
s3 PUT "/$BUCKET" -o /dev/null
meta() { # FILE KEY/KEY...: a value of a JSON file
    "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); v=j
for k in sys.argv[2].split("/"): v=v[k]
print(v)' "$1" "$2"; }

case $case_name in
dump)
    step "the store is checked before any guest is touched"
    set +e
    "$GUESTDUMP" dump --qmp "$WORK/no-such.sock" -o "$WORK/store" --upload "http://$BUCKET" 2> "$WORK/err"
    rc=$?
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$WORK" \
        "$GUESTDUMP" dump --qmp "$WORK/no-such.sock" -o "$WORK/store" --upload "s3://$BUCKET/x" 2> "$WORK/err2"
    rc2=$?
    set -e
    [ "$rc" = 2 ] && grep -q "store URL 'http://$BUCKET': expected s3://BUCKET\[/PREFIX\]" "$WORK/err" ||
        fail "a bad --upload URL: exit $rc, $(cat "$WORK/err")"
    [ "$rc2" = 1 ] && grep -q "guestdump: error: dump: no S3 credentials" "$WORK/err2" ||
        fail "missing credentials: exit $rc2, $(cat "$WORK/err2")"
    [ ! -e "$WORK/store" ] || fail "the store was created before the upload configuration was checked"
    guest=$WORK/guest
    trap '"$fixtures/run-guest.sh" stop --dir "$guest" || true' EXIT
    "$fixtures/run-guest.sh" start --dir "$guest" --mem 512 --fill 48 --mode panic
    step "guestdump dump --upload (5 MiB parts, so the vmcore goes as a multipart upload)"
    "$GUESTDUMP" dump --qmp "$guest/qmp.sock" -o "$WORK/store" -d 1 \
        --upload "s3://$BUCKET/fleet/eu" --upload-part-size 5MiB | tee "$WORK/dump.out"
    d=$(find "$WORK/store" -mindepth 2 -maxdepth 2 -type d ! -name '.*')
    [ "$(echo "$d" | grep -c .)" = 1 ] || fail "expected one dump directory: $d"
    url=$(meta "$d/meta.json" upload/url)
    ts=$(basename "$d")
    expected="s3://$BUCKET/fleet/eu/$(meta "$d/meta.json" host)/$(meta "$d/meta.json" uuid)/$ts/"
    [ "$url" = "$expected" ] || fail "upload.url is '$url', expected '$expected'"
    grep -qF "uploaded to $url" "$WORK/dump.out" || fail "dump did not say where it uploaded"
    [ "$(meta "$d/meta.json" upload/state)" = complete ] || fail "upload.state"
    size=$(stat -c %s "$d/vmcore")
    [ "$size" -gt $((5 << 20)) ] || fail "vmcore ($size bytes) is too small for a multipart upload"
    key=${url#s3://$BUCKET/}
    for f in vmcore dmesg.txt; do
        sum=$(sha256sum "$d/$f" | cut -d' ' -f1)
        [ "$(meta "$d/meta.json" "checksums/$f/sha256")" = "$sum" ] || fail "meta.json's SHA-256 of $f"
        s3 GET "/$BUCKET/$key$f" -o "$WORK/remote-$f"
        cmp "$d/$f" "$WORK/remote-$f" || fail "remote $f differs"
        s3 HEAD "/$BUCKET/$key$f" -I | tr -d '\r' | grep -qi "^x-amz-meta-sha256: $sum" ||
            fail "remote $f lacks x-amz-meta-sha256"
    done
    s3 GET "/$BUCKET/${key}meta.json" -o "$WORK/remote-meta.json"
    cmp "$d/meta.json" "$WORK/remote-meta.json" || fail "remote meta.json differs from the local one"
    grep -q "$AWS_SECRET_ACCESS_KEY\|$AWS_ACCESS_KEY_ID\|$AWS_ENDPOINT_URL" "$d/meta.json" &&
        fail "meta.json names the endpoint or a key"
    [ -z "$(open_uploads)" ] || fail "multipart uploads left open: $(open_uploads)"
    ls -A "$d" | grep -q '\.upload$' && fail "upload state files left in $d"
    ;;
restart)
    head -c $((60 << 20)) /dev/urandom > "$WORK/big"
    sum=$(sha256sum "$WORK/big" | cut -d' ' -f1)
    parts_done() { [ -f "$WORK/state" ] && "$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["parts"]))' "$WORK/state" 2>/dev/null || echo 0; }
    wait_parts() { # N: until the state file records N parts
        for _ in $(seq 600); do [ "$(parts_done)" -ge "$1" ] && return 0; sleep 0.05; done
        fail "the upload did not reach $1 parts"
    }
    check_object() { # KEY
        s3 GET "/$BUCKET/$1" -o "$WORK/remote"
        [ "$(sha256sum "$WORK/remote" | cut -d' ' -f1)" = "$sum" ] || fail "remote $1 differs"
        [ -z "$(open_uploads)" ] || fail "multipart uploads left open: $(open_uploads)"
        [ ! -e "$WORK/state" ] || fail "the state file is left"
    }

    step "RGW stopped after 2 of 12 parts, started again 3 s later"
    "$UPLOAD_TOOL" "$WORK/big" "$BUCKET" a/vmcore "$WORK/state" $((5 << 20)) > "$WORK/a.out" 2> "$WORK/a.err" &
    tool=$!
    wait_parts 2
    "$fixtures/rgw/rgw.sh" stop-rgw "$RGW_DIR"
    sleep 3
    "$fixtures/rgw/rgw.sh" start-rgw "$RGW_DIR"
    wait "$tool" || { cat "$WORK/a.err"; fail "the upload did not survive the RGW restart"; }
    cat "$WORK/a.err"
    grep -q 'attempt 2' "$WORK/a.err" || fail "no retry was needed: RGW was not stopped mid-upload"
    grep -q "sha256 $sum parts 12" "$WORK/a.out" || fail "upload result: $(cat "$WORK/a.out")"
    check_object a/vmcore

    step "uploader killed after 3 parts, run again: it resumes the same upload"
    "$UPLOAD_TOOL" "$WORK/big" "$BUCKET" b/vmcore "$WORK/state" $((5 << 20)) > /dev/null 2>&1 &
    tool=$!
    wait_parts 3
    kill -9 "$tool"; wait "$tool" 2>/dev/null || true
    id=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["upload_id"])' "$WORK/state")
    [ "$(open_uploads)" = "$id" ] || fail "open uploads after the kill: '$(open_uploads)', state has '$id'"
    "$UPLOAD_TOOL" "$WORK/big" "$BUCKET" b/vmcore "$WORK/state" $((5 << 20)) \
        > "$WORK/b.out" 2> "$WORK/b.err" || { cat "$WORK/b.err"; fail "resume failed"; }
    cat "$WORK/b.err"
    grep -q 'resuming upload' "$WORK/b.err" || fail "the second run did not resume"
    check_object b/vmcore
    ;;
*) fail "unknown case '$case_name'" ;;
esac
echo "PASS: s3-upload $case_name"
