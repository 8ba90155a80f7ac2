#!/usr/bin/env bash
# Upload throughput to a local single-node Ceph RGW (tests/fixtures/rgw/rgw.sh), measured in one
# run on one file: guestdump's uploader (objstore::S3Client::upload_file, the code behind
# `guestdump dump --upload` and guestdumpd's `upload`: 64 MiB parts, 4 in flight, SHA-256 of
# every body sent for the server to check) against `s3cmd put` and `aws s3 cp` (Debian's s3cmd
# and awscli, installed here if missing) of the same file into the same bucket. Target: not
# slower than either. The file is a real dump when DUMP is given, else 1 GiB of pseudo-random
# bytes (incompressible, like a compressed vmcore).
#
# Usage (as root): tests/bench/upload_bench.sh [BUILD_DIR] [DUMP]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
tool=$build/tests/integration/s3_upload_tool
[ -x "$tool" ] || { echo "bench: build s3_upload_tool first (cmake --build $build --target s3_upload_tool)" >&2; exit 1; }
# Debian's s3cmd and awscli by path: another `aws` earlier in PATH (a pip install) is not what
# the comparison is about.
for p in /usr/bin/s3cmd /usr/bin/aws; do
    [ -x "$p" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q s3cmd awscli > /dev/null
done
work=$build/bench-upload
rm -rf "$work" && mkdir -p "$work"
rgw=$work/rgw
trap '"$root/tests/fixtures/rgw/rgw.sh" stop "$rgw" > /dev/null 2>&1 || true' EXIT
"$root/tests/fixtures/rgw/rgw.sh" start "$rgw" > /dev/null
set -a; . "$rgw/env"; set +a
file=${2:-$work/payload}
if [ -z "${2:-}" ]; then
    # 1 GiB, incompressible, generated fast (AES-CTR keystream).
    # (openssl dies of SIGPIPE when head has enough: not a failure)
    { openssl enc -aes-128-ctr -pass pass:guestdump -nosalt -pbkdf2 < /dev/zero 2> /dev/null || true; } |
        head -c $((1 << 30)) > "$file"
fi
size=$(stat -c %s "$file")
bucket=bench
curl -sS -f --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X PUT "$AWS_ENDPOINT_URL/$bucket" -o /dev/null
hostport=${AWS_ENDPOINT_URL#http://}
cat > "$work/s3cfg" <<CFG
[default]
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
host_base = $hostport
host_bucket = $hostport
use_https = False
bucket_location = $AWS_REGION
signature_v2 = False
CFG
now() { date +%s.%N; }
rate() { awk -v a="$1" -v b="$2" -v n="$size" 'BEGIN { printf "%.2f %.1f", b - a, n / (b - a) / 1048576 }'; }
: > "$work/results.txt"
run() { # NAME COMMAND...: 5 minutes at most (a 1 GiB upload on loopback takes well under
    # one), its output kept in $work/NAME.out
    local name=$1; shift
    local t0 t1; t0=$(now)
    timeout 300 "$@" > "$work/$name.out" 2>&1 < /dev/null ||
        { tail -n 30 "$work/$name.out" >&2; echo "bench: $name failed or timed out" >&2; exit 1; }
    t1=$(now)
    echo "$name $(rate "$t0" "$t1")" >> "$work/results.txt"
}
# Each client first puts 1 MiB with its debug output kept, so a client that cannot talk to this
# RGW at all says why in a minute instead of stalling the run.
head -c $((1 << 20)) "$file" > "$work/probe"
timeout 60 /usr/bin/s3cmd -c "$work/s3cfg" --debug put "$work/probe" "s3://$bucket/probe/s3cmd" \
    > "$work/s3cmd-probe.out" 2>&1 < /dev/null ||
    { tail -n 40 "$work/s3cmd-probe.out" >&2; echo "bench: s3cmd cannot put 1 MiB into the RGW" >&2; exit 1; }
timeout 60 /usr/bin/aws --debug --endpoint-url "$AWS_ENDPOINT_URL" s3 cp --no-progress "$work/probe" \
    "s3://$bucket/probe/aws" > "$work/aws-probe.out" 2>&1 < /dev/null ||
    { tail -n 40 "$work/aws-probe.out" >&2; echo "bench: aws cannot put 1 MiB into the RGW" >&2; exit 1; }
run guestdump-objstore "$tool" "$file" "$bucket" gd/vmcore "$work/state" $((64 << 20)) 4
run s3cmd-put /usr/bin/s3cmd -c "$work/s3cfg" put "$file" "s3://$bucket/s3cmd/vmcore"
run aws-s3-cp /usr/bin/aws --endpoint-url "$AWS_ENDPOINT_URL" s3 cp --no-progress "$file" "s3://$bucket/aws/vmcore"
echo "file: $size bytes; RGW: single node, memstore OSD, loopback; $(nproc) CPUs"
printf '%-22s %9s %9s\n' method seconds MiB/s
while read -r n s r; do printf '%-22s %9s %9s\n' "$n" "$s" "$r"; done < "$work/results.txt"
get() { awk -v n="$1" '$1 == n { print $2 }' "$work/results.txt"; }
echo "s3cmd put / guestdump = $(echo "scale=2; $(get s3cmd-put) / $(get guestdump-objstore)" | bc -l)x (target >= 1)"
echo "aws s3 cp / guestdump = $(echo "scale=2; $(get aws-s3-cp) / $(get guestdump-objstore)" | bc -l)x (target >= 1)"
