#!/bin/sh
# Installs the Debian 12 packages that the build, the tests and `make run` need.
# Idempotent: does nothing when everything is present.
set -eu
PKGS="cmake make gcc clang clang-tidy cppcheck pkg-config libfyaml-dev zlib1g-dev libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev libsqlite3-dev libzstd-dev libpcre2-dev librdkafka-dev openssl curl sqlite3 clickhouse-server clickhouse-client rsyslog rsyslog-gnutls libcriterion-dev libjansson-dev jq python3"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps.sh: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
