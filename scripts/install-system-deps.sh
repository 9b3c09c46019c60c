#!/usr/bin/env bash
# Installs the Debian packages the tests need: jq and curl for the README's examples;
# Chromium and a CJK font for the web portal's browser tests; Slurm (slurmctld, slurmd and the
# client commands sbatch/squeue/scontrol/scancel/sacct/sinfo) and munge for the real
# single-node Slurm cluster the tests start. Quick when they are already present.
set -euo pipefail
need=()
for daemon in slurmctld slurmd; do
  [ -x "/usr/sbin/$daemon" ] || command -v "$daemon" >/dev/null 2>&1 || need+=(slurm-wlm)
done
command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
[ -x /usr/sbin/munged ] || command -v munged >/dev/null 2>&1 || need+=(munge)
# The README's shell examples (executed by tests/e2e/test_readme.py) read JSON with jq.
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v curl >/dev/null 2>&1 || need+=(curl)
# docs/deploy's nginx example is checked with `nginx -t` (tests/integration/test_deploy_files.py).
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)  # verifies docs/deploy's units
# The web portal's browser tests drive Debian's Chromium; Chinese pages need a CJK font.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != "0" ]; then
    echo "suanli: missing apt packages ${need[*]} and not root; Slurm tests will skip (fail under CI=true)" >&2
    exit 0
  fi
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  echo "suanli: installing ${need[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# munge's package makes the key on install; make it if that step was skipped (the test
# cluster's private munged reads it).
if [ ! -s /etc/munge/munge.key ] && [ "$(id -u)" = "0" ] && command -v mungekey >/dev/null 2>&1; then
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
