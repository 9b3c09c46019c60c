#!/usr/bin/env bash
# Makes sure the local PostgreSQL server the integration tests use is up (127.0.0.1:5432).
set -uo pipefail
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then exit 0; fi
if command -v pg_ctlcluster >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
for _ in $(seq 1 20); do pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && exit 0; sleep 0.5; done
echo "suanli: PostgreSQL is not reachable on 127.0.0.1:5432; PostgreSQL tests will skip (fail under CI=true)" >&2
exit 0
