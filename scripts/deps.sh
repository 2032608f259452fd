#!/usr/bin/env bash
# Installs the Debian 12 packages Coffer builds, tests and benchmarks with,
# when any is missing. Needs root (or sudo) only if something must be installed.
set -euo pipefail

packages=(
	build-essential cmake pkg-config git
	libssl-dev libzstd-dev liburing-dev librsync-dev libarchive-dev
	libsqlite3-dev libcmocka-dev libkeyutils-dev
	libsystemd-dev             # sd_notify: daemon readiness and watchdog
	clang libclang-rt-14-dev   # libFuzzer and sanitizer runtimes
	acl attr                   # setfacl/getfattr for the fidelity tests
	python3                    # JSON and zip checks in the CLI tests
	openssl                    # approvers' keys and offline signatures (demo, destruction tests)
	e2fsprogs util-linux       # mkfs.ext4, losetup, mount: destruction tests on loop devices
	qpdf                       # checks the certificate's PDF rendering
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
