#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run .ci/run the way CI's bare machine would: inside a fresh Debian 12
# (bookworm) minbase chroot made with debootstrap, on a copy of this tree
# (tracked and untracked files, no build/).  As root; nothing of the host's
# installed packages is visible inside.
#
#   tools/ci-chroot.sh [DIR]     DIR: the chroot (made if it has no /bin/bash;
#                                default a new folder under /tmp, removed at
#                                the end unless KEEP=1)
#   MIRROR=URL                   the Debian mirror (default: the host's, from
#                                /etc/apt/sources.list.d/debian.sources or
#                                /etc/apt/sources.list)
#   CI_TESTS="word ..."          run only the tests whose names contain a
#                                word (passed on to .ci/run)
#
# Exits with .ci/run's status; its output ends with `make test`'s counts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "$(id -u)" -eq 0 ] || { echo "ci-chroot: needs root (debootstrap, chroot, mount)" >&2; exit 2; }

made=0
if [ $# -gt 0 ]; then
  root=$1
else
  root=$(mktemp -d /tmp/tidemalloc-chroot.XXXXXX)
  made=1
fi
mirror=${MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || { echo "ci-chroot: no Debian mirror known: set MIRROR" >&2; exit 2; }

if ! command -v debootstrap >/dev/null; then
  apt-get install -y -q --no-install-recommends debootstrap </dev/null
fi
if [ ! -x "$root/bin/bash" ]; then
  echo "== debootstrap --variant=minbase bookworm $root"
  debootstrap --variant=minbase bookworm "$root" "$mirror"
fi

echo "== copy of the tree in $root/src/tidemalloc"
rm -rf "$root/src/tidemalloc"
mkdir -p "$root/src/tidemalloc"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$root/src/tidemalloc"
else
  tar --exclude=./build --exclude=./bench/bin -cf - . | tar -xf - -C "$root/src/tidemalloc"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  if [ "$made" = 1 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount -t sysfs sysfs "$root/sys" && mounted+=("$root/sys")
# rslave: unmounting the copy must not propagate to the host's /dev/pts.
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev" && mounted+=("$root/dev")

echo "== .ci/run in the chroot"
set +e
chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 CI=true CI_TESTS="${CI_TESTS:-}" \
  bash -c 'cd /src/tidemalloc && bash .ci/run' </dev/null
rc=$?
set -e
echo "== ci-chroot: .ci/run exited with status $rc"
exit $rc
