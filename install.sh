#!/bin/sh
# Installs aicarpool as a systemd service, upgrades it in place, or uninstalls it.
#
#   sudo ./install.sh                 build (if needed), install, enable and (re)start
#   sudo ./install.sh --uninstall     remove binary and unit; data and config are kept
#   ./install.sh --root DIR           lay the files out under DIR without systemd (tests, packaging)
#
# Options: --binary FILE (install this binary instead of building), --no-start.
# DESTDIR=DIR is the same as --root DIR.
set -eu

ROOT=${DESTDIR:-}
BINARY=
UNINSTALL=0
START=1

while [ $# -gt 0 ]; do
    case "$1" in
        --root) [ $# -ge 2 ] || { echo "--root needs a directory" >&2; exit 2; }; ROOT=$2; shift 2 ;;
        --binary) [ $# -ge 2 ] || { echo "--binary needs a file" >&2; exit 2; }; BINARY=$2; shift 2 ;;
        --uninstall) UNINSTALL=1; shift ;;
        --no-start) START=0; shift ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done

SERVICE=aicarpool
SERVICE_USER=aicarpool
BIN=/usr/local/bin/aicarpool
UNIT=/etc/systemd/system/aicarpool.service
ENV_DIR=/etc/aicarpool
ENV_FILE=$ENV_DIR/aicarpool.env
DATA_DIR=/var/lib/aicarpool
SRC_DIR=$(cd "$(dirname "$0")" && pwd)

say() { printf '%s\n' "$*"; }

# systemd is driven only for a real install on a machine that runs it.
use_systemd() {
    [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    echo "run as root (or use --root DIR to install into a directory)" >&2
    exit 1
fi

if [ "$UNINSTALL" = 1 ]; then
    if use_systemd; then
        systemctl disable --now "$SERVICE" >/dev/null 2>&1 || true
    fi
    rm -f "$ROOT$BIN" "$ROOT$UNIT"
    if use_systemd; then systemctl daemon-reload; fi
    say "aicarpool removed. Kept: data in $ROOT$DATA_DIR, configuration in $ROOT$ENV_FILE."
    exit 0
fi

# 1. The binary: the one given, or a release build that is rebuilt when sources are newer.
if [ -z "$BINARY" ]; then
    BINARY=$SRC_DIR/target/release/aicarpool
    if [ ! -x "$BINARY" ] || [ -n "$(find "$SRC_DIR/src" "$SRC_DIR/migrations" "$SRC_DIR/static" \
            "$SRC_DIR/Cargo.toml" -newer "$BINARY" 2>/dev/null | head -n 1)" ]; then
        command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust or pass --binary FILE" >&2; exit 1; }
        say "building the release binary..."
        (cd "$SRC_DIR" && cargo build --release --locked)
    fi
fi
[ -x "$BINARY" ] || { echo "not an executable: $BINARY" >&2; exit 1; }

# 2. The service user (real installs only).
if [ -z "$ROOT" ] && ! id "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --home-dir "$DATA_DIR" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi

# 3. Files. The binary is replaced atomically so a running service is never half-written.
install -d -m 0755 "$ROOT/usr/local/bin" "$ROOT/etc/systemd/system"
install -d -m 0750 "$ROOT$ENV_DIR"
install -d -m 0700 "$ROOT$DATA_DIR"
install -m 0755 "$BINARY" "$ROOT$BIN.new"
mv -f "$ROOT$BIN.new" "$ROOT$BIN"

if [ ! -f "$ROOT$ENV_FILE" ]; then
    install -m 0640 "$SRC_DIR/.env.example" "$ROOT$ENV_FILE"
    say "wrote $ROOT$ENV_FILE (every setting, documented; edit and restart to change)"
else
    say "kept existing $ROOT$ENV_FILE"
fi

# systemd must wait for the drain (and the final flush) before it kills the service.
DRAIN=$(sed -n 's/^[[:space:]]*AICARPOOL_SHUTDOWN_DRAIN_SECS=[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$ROOT$ENV_FILE" 2>/dev/null | tail -n 1)
STOP_TIMEOUT=$(( ${DRAIN:-30} + 15 ))

cat > "$ROOT$UNIT.new" <<UNIT
[Unit]
Description=aicarpool AI API gateway
Documentation=file://$ENV_FILE
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=$SERVICE_USER
Group=$SERVICE_USER
EnvironmentFile=-$ENV_FILE
# The data directory is fixed: it is the only path the service may write.
Environment=AICARPOOL_DATA_DIR=$DATA_DIR
ExecStart=$BIN serve
Restart=on-failure
RestartSec=2
# SIGTERM drains in-flight requests for AICARPOOL_SHUTDOWN_DRAIN_SECS (${DRAIN:-30} s) before
# exiting; the stop timeout is that plus 15 s (re-run install.sh after changing the drain).
KillSignal=SIGTERM
TimeoutStopSec=$STOP_TIMEOUT
LimitNOFILE=65536
# Lets the database writer leave the idle CPU class it takes while it commits usage rows
# (nice 0 at most: no thread can raise itself above normal).
LimitNICE=+0
UMask=0077

NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=$DATA_DIR
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallArchitectures=native
SystemCallFilter=@system-service
CapabilityBoundingSet=
AmbientCapabilities=

[Install]
WantedBy=multi-user.target
UNIT
chmod 0644 "$ROOT$UNIT.new"
mv -f "$ROOT$UNIT.new" "$ROOT$UNIT"

if [ -z "$ROOT" ]; then
    chown root:"$SERVICE_USER" "$ENV_DIR" "$ENV_FILE"
    chown "$SERVICE_USER":"$SERVICE_USER" "$DATA_DIR"
fi

# 4. Start or restart. `serve` backs the database up and applies migrations on start.
if use_systemd; then
    systemctl daemon-reload
    systemctl enable "$SERVICE" >/dev/null
    if [ "$START" = 1 ]; then
        if systemctl is-active --quiet "$SERVICE"; then
            say "restarting aicarpool (upgrade: migrations run on start, after a backup)"
            systemctl restart "$SERVICE"
        else
            systemctl start "$SERVICE"
        fi
        systemctl --no-pager --lines=5 status "$SERVICE" || true
    fi
else
    say "systemd not driven here; start with: AICARPOOL_DATA_DIR=$DATA_DIR $BIN serve"
fi

say "installed $ROOT$BIN"
say "next: open the one-time setup link from: journalctl -u $SERVICE | grep setup_url"
say "   or: sudo -u $SERVICE_USER AICARPOOL_DATA_DIR=$DATA_DIR $BIN admin set-password --username admin"
