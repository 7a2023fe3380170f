# clickhouse.sh - sourced by the tests and benchmarks that need a real clickhouse-server
# (Debian's): a temporary config and data directory under a given directory, free loopback
# ports, and start/query helpers. Sets nothing until called.
#
#   ch_port                      prints a free loopback TCP port
#   ch_setup DIR [EXTRA_XML]     sets CH_DIR, CH_HP (HTTP port), CH_TP (native port; either may be
#                                set before, else a free one is chosen) and writes
#                                DIR/ch/{config,users}.xml; EXTRA_XML goes inside <yandex>
#   ch_start                     starts the server (CH_SERVER or clickhouse-server from PATH),
#                                sets CH_PID, waits up to 15 s for SELECT 1; 1 if it never answers
#   ch_q SQL                     runs SQL over HTTP and prints the answer
ch_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ch_setup() {
  CH_DIR=$1/ch; CH_HP=${CH_HP:-$(ch_port)}; CH_TP=${CH_TP:-$(ch_port)}
  mkdir -p "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/log"
  cat > "$CH_DIR/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$CH_DIR/log/server.log</log><errorlog>$CH_DIR/log/err.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$CH_HP</http_port><tcp_port>$CH_TP</tcp_port>
  <path>$CH_DIR/data/</path><tmp_path>$CH_DIR/tmp/</tmp_path>
  <user_files_path>$CH_DIR/uf/</user_files_path><format_schema_path>$CH_DIR/fs/</format_schema_path>
  <users_config>$CH_DIR/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>5368709120</mark_cache_size>
  ${2:-}
</yandex>
XML
  cat > "$CH_DIR/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default/></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default/></quotas>
</yandex>
XML
}

ch_start() {
  # clickhouse-server runs as the invoking user (root in CI is accepted by 18.16).
  local server=${CH_SERVER:-$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)}
  "$server" --config-file="$CH_DIR/config.xml" >"$CH_DIR/log/stdout" 2>&1 &
  CH_PID=$!
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$CH_HP/?query=SELECT%201" >/dev/null && return 0; sleep 0.1; done
  cat "$CH_DIR/log/err.log" "$CH_DIR/log/stdout" 2>/dev/null | tail -5
  return 1
}

ch_q() { curl -sS "http://127.0.0.1:$CH_HP/" --data-binary "$1"; }
