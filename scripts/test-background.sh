#!/usr/bin/env bash
# The work scripts/test.sh does beside its tiers, so that the tiers that run QEMU guests under
# TCG (about one core busy) leave no core idle:
#   fetch    the Debian unstable root with the newest QEMU (tests/fixtures/sid-qemu/build.sh,
#            whose cache the integration tier's fixture.sid-qemu then finds, or waits for under
#            its lock), the Xen environment (tests/xen/build-env.sh) and the install test's
#            mmdebstrap root (tests/packaging/install-test.sh --prepare)
#   compile  the sanitizer tier's clang build (scripts/sanitize.sh --build-only), then the Debian
#            packages with lintian (tests/packaging/build-packages.sh, whose result the packaging
#            tier's packaging.build shows again), then the boot test's root
#            (tests/packaging/boot-test.sh --prepare)
# Both run at SCHED_IDLE and idle I/O priority: they only get a core, or the disk, that the tiers
# leave idle. test.sh starts both after the main build, which either slows even at SCHED_IDLE.
# Each step writes its output to BUILD_DIR/background/STEP.log and, when it ends, its exit
# status to BUILD_DIR/background/STEP.rc, which the tier that needs it waits for. A failed step
# fails nothing here: the tier that needs it runs the same script again and fails with its
# message. test.sh starts this with setsid and kills the process group when a tier fails.
# Usage: test-background.sh fetch|compile BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
chain=${1:?fetch or compile}
build=${2:?build dir}
dir=$build/background
mkdir -p "$dir"

run() {
    local name=$1 t0=$SECONDS rc=0
    shift
    rm -f "$dir/$name.rc"
    "$@" > "$dir/$name.log" 2>&1 || rc=$?
    echo "test-background: $name: exit $rc after $((SECONDS - t0)) s"
    echo "$rc" > "$dir/$name.rc"
    return "$rc"
}

chrt --idle -p 0 $$
ionice -c 3 -p $$
case $chain in
fetch)
    run sid-qemu bash tests/fixtures/sid-qemu/build.sh "$build/fixtures/sid-qemu"
    run xen-env bash tests/xen/build-env.sh "$build/fixtures/cache/xen"
    run install-base bash tests/packaging/install-test.sh --prepare \
        "$build/fixtures/cache/packaging"
    ;;
compile)
    run asan env GUESTDUMP_SANITIZE_BUILD_DIR="$build-asan" scripts/sanitize.sh --build-only
    if run packages bash tests/packaging/build-packages.sh "$build/pkg"; then
        run boot-base bash tests/packaging/boot-test.sh --prepare "$build/pkg" \
            "$build/fixtures/cache/packaging"
    else
        echo 1 > "$dir/boot-base.rc"
    fi
    ;;
*)
    echo "usage: ${0##*/} fetch|compile BUILD_DIR" >&2
    exit 2
    ;;
esac
exit 0
