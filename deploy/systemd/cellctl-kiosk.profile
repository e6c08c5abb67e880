# ~cellctl/.bash_profile on a kiosk (install -o cellctl -m 644 cellctl-kiosk.profile
# /var/lib/cellctl/.bash_profile, the cellctl user's home). On tty1 (auto-login, see
# getty@tty1.service.d/autologin.conf) it replaces the shell with the kiosk; on any
# other terminal (ssh for maintenance) it leaves a normal shell.
if [ "$(tty)" = /dev/tty1 ]; then
    set -a
    . /etc/cellctl/cellctl.env
    set +a
    cd /var/lib/cellctl || exit 1
    # A crash ends the session and getty logs in again: the kiosk restarts. Wait a little
    # first so a kiosk that cannot start (a broken station file) does not spin.
    /opt/cellctl/bin/cellctl kiosk --station "$CELLCTL_STATION" || sleep 3
    logout 2>/dev/null || exit
fi
