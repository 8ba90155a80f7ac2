#!/bin/bash
# The S3 dump store against a real single-node Ceph RGW (tests/fixtures/rgw/rgw.sh, CTest fixture
# `rgw`). Usage: s3-upload.sh CASE
#   dump     `guestdump dump --upload` of a panicked guest: vmcore, dmesg.txt and meta.json land
#            under PREFIX/<host>/<domain-uuid>/<timestamp>/, equal to the local files, with the
#            SHA-256 in meta.json, and no multipart upload is left open
#   restart  RGW stopped in the middle of a multipart upload and started again: the upload
#            completes; then the uploader killed mid-upload and run again: it resumes the same
#            upload. Both: the object is right and no multipart upload is left open
#   read     two "hosts" (GUESTDUMP_HOST) upload a dump each: `list --store` shows both, newest
#            first, its filters work and --json parses; `fetch` downloads one equal to the local
#            files, and refuses a remote object overwritten with other bytes, leaving no
#            complete-looking directory; `info` and `dmesg` of the remote vmcore print what they
#            print for the local file while fetching under 5% of it
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
read)
    guest=$WORK/guest
    trap '"$fixtures/run-guest.sh" stop --dir "$guest" || true' EXIT
    # 128 MiB of incompressible pages: `info` reads every page descriptor (24 bytes a page, to
    # count the shared zero pages), 3 MiB for this guest, which must be a small share of the file.
    "$fixtures/run-guest.sh" start --dir "$guest" --mem 512 --fill 128 --mode panic
    for h in host-a host-b; do
        step "guestdump dump --upload as $h"
        GUESTDUMP_HOST=$h "$GUESTDUMP" dump --qmp "$guest/qmp.sock" -o "$WORK/store-$h" -d 1 \
            --upload "s3://$BUCKET/fleet" > "$WORK/dump-$h.out"
        sleep 1 # store timestamps have a resolution of one second
    done
    da=$(find "$WORK/store-host-a" -mindepth 2 -maxdepth 2 -type d ! -name '.*')
    db=$(find "$WORK/store-host-b" -mindepth 2 -maxdepth 2 -type d ! -name '.*')
    urla=$(meta "$da/meta.json" upload/url) urlb=$(meta "$db/meta.json" upload/url)
    [ "$(meta "$da/meta.json" host)" = host-a ] || fail "GUESTDUMP_HOST did not name the host"
    case $urla in "s3://$BUCKET/fleet/host-a/"*) ;; *) fail "url of host-a's dump: $urla" ;; esac
    ta=$(meta "$da/meta.json" started_at) tb=$(meta "$db/meta.json" started_at)
    [ "$ta" -lt "$tb" ] || fail "host-b's dump is not the newer one ($ta, $tb)"

    step "list --store: both hosts, newest first"
    "$GUESTDUMP" list --store "s3://$BUCKET/fleet" | tee "$WORK/list.out"
    [ "$(sed -n 2p "$WORK/list.out" | awk '{print $1}')" = host-b ] &&
        [ "$(sed -n 3p "$WORK/list.out" | awk '{print $1}')" = host-a ] &&
        [ "$(grep -c . "$WORK/list.out")" = 3 ] || fail "list --store: $(cat "$WORK/list.out")"
    grep -qF "$urla" "$WORK/list.out" && grep -qF "$urlb" "$WORK/list.out" || fail "URLs not listed"
    urls() { "$GUESTDUMP" list --store "s3://$BUCKET/fleet" --json "$@" |
        "$PY" -c 'import json,sys; print(" ".join(d["url"] for d in json.load(sys.stdin)))'; }
    [ "$(urls)" = "$urlb $urla" ] || fail "list --json: '$(urls)'"
    [ "$(urls --host host-a)" = "$urla" ] || fail "--host host-a: '$(urls --host host-a)'"
    [ "$(urls --since "@$tb")" = "$urlb" ] || fail "--since: '$(urls --since "@$tb")'"
    [ "$(urls --until "@$ta")" = "$urla" ] || fail "--until: '$(urls --until "@$ta")'"
    trig=$(meta "$da/meta.json" trigger)
    [ "$(urls --trigger "$trig")" = "$urlb $urla" ] || fail "--trigger $trig"
    [ -z "$(urls --trigger no-such)" ] || fail "--trigger no-such listed dumps"
    [ "$(urls --domain "$(meta "$da/meta.json" uuid)")" = "$urlb $urla" ] || fail "--domain UUID"
    [ -z "$(urls --host nobody)" ] || fail "--host nobody listed dumps"

    step "fetch: host-a's dump, equal to the local files"
    "$GUESTDUMP" fetch "$urla" "$WORK/fetched"
    ts=$(basename "$da")
    for f in vmcore dmesg.txt meta.json; do
        cmp "$da/$f" "$WORK/fetched/$ts/$f" || fail "fetched $f differs"
        [ "$(stat -c %a "$WORK/fetched/$ts/$f")" = 600 ] || fail "fetched $f is not mode 0600"
    done
    [ "$(stat -c %a "$WORK/fetched/$ts")" = 700 ] || fail "fetched directory is not mode 0700"

    step "fetch refuses an object overwritten with other bytes (x-amz-meta-sha256 kept)"
    keyb=${urlb#s3://$BUCKET/}
    sumb=$(meta "$db/meta.json" checksums/vmcore/sha256)
    head -c 1000000 /dev/urandom > "$WORK/junk"
    s3 PUT "/$BUCKET/${keyb}vmcore" -H "x-amz-meta-sha256: $sumb" --data-binary @"$WORK/junk" -o /dev/null
    set +e
    "$GUESTDUMP" fetch "$urlb" "$WORK/fetched" 2> "$WORK/fetch.err"
    rc=$?
    set -e
    cat "$WORK/fetch.err"
    [ "$rc" = 1 ] && grep -qF "s3://$BUCKET/${keyb}vmcore" "$WORK/fetch.err" &&
        grep -q "SHA-256" "$WORK/fetch.err" || fail "fetch of a corrupted vmcore: exit $rc"
    [ "$(ls -A "$WORK/fetched")" = "$ts" ] || fail "fetch left $(ls -A "$WORK/fetched")"
    step "... and one whose x-amz-meta-sha256 disagrees with meta.json"
    s3 PUT "/$BUCKET/${keyb}vmcore" --data-binary @"$db/vmcore" -o /dev/null
    set +e
    "$GUESTDUMP" fetch "$urlb" "$WORK/fetched" 2> "$WORK/fetch2.err"
    rc=$?
    set -e
    [ "$rc" = 1 ] && grep -q "x-amz-meta-sha256" "$WORK/fetch2.err" ||
        fail "fetch without x-amz-meta-sha256: exit $rc, $(cat "$WORK/fetch2.err")"
    [ "$(ls -A "$WORK/fetched")" = "$ts" ] || fail "fetch left $(ls -A "$WORK/fetched")"

    step "info and dmesg of the remote vmcore: the local output, a few percent fetched"
    keya=${urla#s3://$BUCKET/}
    size=$(stat -c %s "$da/vmcore")
    fetched_pct() { # STDERR-FILE: percent of the vmcore fetched, from --stats
        local n
        n=$(grep -o 'fetched [0-9]* bytes' "$1" | awk '{print $2}')
        [ -n "$n" ] || fail "no byte count in $(cat "$1")"
        echo "$n $size" | awk '{printf "%d", $1 * 100 / $2}'
    }
    "$GUESTDUMP" info "$da/vmcore" | grep -v '^file:' > "$WORK/info.local"
    "$GUESTDUMP" info --stats "s3://$BUCKET/${keya}vmcore" 2> "$WORK/info.err" |
        grep -v '^file:' > "$WORK/info.remote"
    cat "$WORK/info.err"
    diff "$WORK/info.local" "$WORK/info.remote" || fail "info differs"
    [ "$(fetched_pct "$WORK/info.err")" -lt 5 ] || fail "info fetched too much: $(cat "$WORK/info.err")"
    "$GUESTDUMP" dmesg "$da/vmcore" > "$WORK/dmesg.local"
    GUESTDUMP_DEBUG=1 "$GUESTDUMP" dmesg "s3://$BUCKET/${keya}vmcore" > "$WORK/dmesg.remote" 2> "$WORK/dmesg.err"
    grep 'fetched [0-9]* bytes' "$WORK/dmesg.err"
    cmp "$WORK/dmesg.local" "$WORK/dmesg.remote" || fail "dmesg differs"
    [ -s "$WORK/dmesg.local" ] || fail "empty kernel log"
    [ "$(fetched_pct "$WORK/dmesg.err")" -lt 5 ] || fail "dmesg fetched too much"
    [ "$size" -gt $((64 << 20)) ] || fail "vmcore ($size bytes) too small for the percentage to mean much"
    ;;
*) fail "unknown case '$case_name'" ;;
esac
echo "PASS: s3-upload $case_name"
