# Shared helpers for scripts/*. Sourced, not run.

# The Debian packages the suites, the demo and the benchmarks use.
SHIMAI_PACKAGES=(
  resource-agents pacemaker-cli-utils libxml2-utils iproute2 kmod psmisc
  e2fsprogs xfsprogs util-linux procps tcpdump strace
  pacemaker corosync crmsh apache2 curl
  nbdkit libnbd-bin fio g++
  drbd-utils
  tgt libiscsi-bin python3
  systemd man-db dpkg-dev
  python3-prometheus-client
  ethtool iperf3
)

step() {
  printf '\n==> %s\n' "$*"
}

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

need_root() {
  [ "$(id -u)" = 0 ] || die "$0 needs root (network namespaces, loop devices, mounts); run it as root"
}

# Installs the packages that are missing; does nothing when all are there.
install_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Cargo's target directory, wherever the user put it.
target_dir() {
  echo "${CARGO_TARGET_DIR:-$(pwd)/target}"
}

# Prints the calling script's header comment (from line 2 to the first
# line that is not a comment) as its --help.
usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}
