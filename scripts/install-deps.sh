#!/usr/bin/env bash
# Installs everything hoshino needs to build, test and run its demo on Debian 12.
# Idempotent: packages already present are not reinstalled and apt's lists are refreshed at most once a day.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(
  # build
  build-essential meson ninja-build pkg-config
  libasio-dev libcurl4-openssl-dev libpugixml-dev libfmt-dev catch2 libssl-dev
  # the local S3 server (single-node Ceph RGW)
  ceph-mon ceph-osd radosgw ceph-common
  # tests and the demo
  iproute2 iputils-ping curl iperf3 python3 procps util-linux
  # fuzzing (libFuzzer) and the sanitizer run
  clang libclang-rt-14-dev
  # deployment checks: cloud-init's schema validator, systemd-analyze
  cloud-init systemd
  # the experiment kit's plots, and scripts/profile.sh
  gnuplot-nox linux-perf
)
# Node.js and npm for the Terraform syntax check, from Debian unless the machine already has them.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

# An HCL parser from the npm registry (Terraform itself cannot run here), kept inside the project.
install_npm_tools() {
  if [[ ! -d $root/build-tools/node_modules/@cdktf/hcl2json ]]; then
    echo "install-deps: npm install @cdktf/hcl2json"
    npm install --prefix "$root/build-tools" --no-save --no-audit --no-fund --loglevel=error @cdktf/hcl2json@0.21.0
  fi
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  install_npm_tools
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi

stamp=/var/lib/apt/periodic/hoshino-update-stamp
if [[ ! -f $stamp ]] || [[ -n $(find "$stamp" -mmin +1440 2>/dev/null) ]]; then
  apt-get update -q
  mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi
echo "install-deps: installing ${missing[*]}"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
install_npm_tools
