#!/usr/bin/env bash
# install-deps.sh - installs the Debian packages Spate needs to build and test, and only
# those that are missing: a machine that has them all is left alone (no apt-get update).
# Run as root, or as a user who may sudo. Debian 12 (bookworm).
set -euo pipefail

PACKAGES=(
	build-essential  # gcc, make, libc headers
	cmake            # the build
	pkgconf          # finds the libraries below; jobs use it to find libspate
	libyaml-dev      # conf/config.yaml
	libjansson-dev   # the plan JSON (and the REST API later)
	libxxhash-dev    # hashing in the state backend, job vertex ids
	librocksdb-dev   # the rocksdb state backend (state.backend.type: rocksdb)
	libcmocka-dev    # unit tests
	clang            # fuzzing drivers, sanitizer builds
	clang-format     # `make format-check`
	libclang-rt-14-dev # clang's sanitizer and libFuzzer runtimes
	jq               # integration tests read the plan JSON
	libprotobuf-c-dev  # control-plane messages and the job graph on the wire
	protobuf-c-compiler # protoc-c generates their C code at build time
	libmicrohttpd-dev  # the JobManager's REST server
	libcurl4-gnutls-dev # the client's HTTP calls to the REST server
	curl             # integration tests call the REST API
	chromium         # headless browser for the dashboard tests
	chromium-driver  # WebDriver for the dashboard tests (driven with curl)
	prometheus       # a real Prometheus server scrapes /metrics in the tests
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	if ! dpkg -s "$pkg" >/dev/null 2>&1 ||
		! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed$'; then
		missing+=("$pkg")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all ${#PACKAGES[@]} packages are installed"
	exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || {
		echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
		exit 1
	}
	SUDO=sudo
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
