#!/usr/bin/env bash
# Builds the Debian packages (dpkg-buildpackage -b -us -uc) from the committed-or-not source
# tree into OUT_DIR, and runs lintian on them. Usage: build-packages.sh OUT_DIR
# OUT_DIR gets src/ (a copy of the tree without build directories), *.deb, *.changes and
# lintian.txt. Fails on a lintian error or warning that debian/*.lintian-overrides does not
# justify.
# A finished build of the same tree (every file git knows, by content) is not built again: its
# output and verdict are shown again from OUT_DIR/result (scripts/test.sh builds the packages in
# the background, and the packaging tier's packaging.build then reports that build). Delete
# OUT_DIR to force a new build. One build at a time per OUT_DIR (OUT_DIR.lock).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "$1")
mkdir -p "$(dirname "$out")"
exec 9> "$out.lock"
flock 9
# The files git knows (tracked, and new ones not ignored): what a clean clone would hold.
tree_files() { git -C "$here" ls-files -z -co --exclude-standard; }
tree=$(tree_files | (cd "$here" && xargs -0 sha256sum) | sha256sum | cut -c1-32)
if [[ -f $out/result && $(cut -d' ' -f1 "$out/result") == "$tree" ]]; then
    rc=$(cut -d' ' -f2 "$out/result")
    echo "build-packages: this tree ($tree) was built into $out already (exit $rc); its output:"
    cat "$out/output.log"
    exit "$rc"
fi
rm -rf "$out" "$out.output"
mkdir -p "$out/src"
# The whole build, its output kept for a later call on the same tree.
build() {
    set -e
    tree_files | (cd "$here" && tar --null -cf - -T -) | tar -xf - -C "$out/src"
    start=$SECONDS
    # dh builds with one job unless DEB_BUILD_OPTIONS says parallel=N. dpkg-buildpackage -J did
    # not set it here (the CI build ran `ninja -j1`: about 11 minutes), so say it.
    DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }parallel=$(nproc)"
    export DEB_BUILD_OPTIONS
    (cd "$out/src" && dpkg-buildpackage -b -us -uc) > "$out/build.log" 2>&1 || {
        tail -n 40 "$out/build.log" >&2
        echo "build-packages: dpkg-buildpackage failed (log: $out/build.log)" >&2
        exit 1
    }
    echo "build-packages: built in $((SECONDS - start)) s:"
    ls -1 "$out"/*.deb
    # lintian: errors and warnings fail; each overridden tag carries its reason in debian/.
    # The overrides are shown with their reasons, so the verdict comes from the E:/W: lines
    # (--fail-on none: with --show-overrides, lintian 2.116 exits 2 on clean packages whose
    # overrides it shows); a non-zero exit is then lintian itself failing.
    set +e
    lintian --allow-root --fail-on none --display-info --show-overrides "$out"/*.changes \
        > "$out/lintian.txt" 2>&1
    rc=$?
    set -e
    cat "$out/lintian.txt"
    if ((rc != 0)) || grep -q '^[EW]: ' "$out/lintian.txt"; then
        echo "build-packages: lintian failed (exit $rc, or an error or warning above)" >&2
        exit 1
    fi
    echo "build-packages: lintian clean"
}
set +e
build 2>&1 | tee "$out.output"
rc=$?
set -e
mv "$out.output" "$out/output.log"
echo "$tree $rc" > "$out/result"
exit "$rc"
