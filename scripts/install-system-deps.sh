#!/usr/bin/env bash
# Installs the Debian packages the integration tests need: Slurm and munge for the real
# single-node Slurm cluster. Quick when they are already present.
set -euo pipefail
need=()
command -v slurmctld >/dev/null 2>&1 || need+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || [ -x /usr/sbin/munged ] || need+=(munge)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "suanli: missing apt packages ${need[*]} and not root; Slurm tests will skip (fail under CI=true)" >&2
  exit 0
fi
echo "suanli: installing ${need[*]} ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
