#!/usr/bin/env bash
# Installs the benchmark peers from Debian's apt repositories: etcd (server + etcdctl) and Apache
# ZooKeeper with a headless JRE. Idempotent: installs only what is missing. Needs root (or sudo).
# The bench harness starts its own clusters (bench/peers/); no system service is enabled or used.
set -euo pipefail

PKGS=(etcd-server etcd-client zookeeper default-jre-headless)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench-peers-setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  for p in "${missing[@]}"; do
    if [ -z "$(apt-cache policy "$p" | awk '/Candidate:/ {print $2}' | grep -v '(none)')" ]; then
      echo "bench-peers-setup: package '$p' is not available from the configured apt repositories" >&2
      exit 1
    fi
  done
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# On a host with systemd, etcd-server starts a system etcd on 2379/2380 at install; the harness runs
# its own clusters on other ports, and an idle extra etcd would only add noise to the measurements.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  $SUDO systemctl disable --now etcd || true
fi

# What bench/peers/ runs directly (it starts ZooKeeper's main class, not the packaged scripts).
for f in /usr/bin/etcd /usr/bin/etcdctl /usr/bin/java /usr/share/java/zookeeper.jar /usr/share/java/slf4j-simple.jar; do
  [ -e "$f" ] || { echo "bench-peers-setup: $f not found after install" >&2; exit 1; }
done
echo "bench-peers-setup: ok"
dpkg-query -W -f='  ${Package} ${Version}\n' "${PKGS[@]}"
/usr/bin/etcd --version | head -1
