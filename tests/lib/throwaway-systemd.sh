#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# throwaway-systemd.sh - boot a real, disposable systemd (PID 1 of its own PID
# namespace) for system tests, without touching the host.
#
# Debian packages this needs on the host (install them beforehand, as root:
#   apt-get install -y systemd dbus openssh-server util-linux iproute2 coreutils tar
# ; this script never installs anything):
#   systemd         /lib/systemd/systemd, systemctl, busctl, journalctl
#   dbus            dbus-daemon / dbus.service inside the sandbox
#   openssh-server  sshd / ssh.service inside the sandbox, ssh-keygen
#   util-linux      unshare, nsenter, setpriv, mount, umount, pivot_root
#   iproute2        ip (brings up lo in the new network namespace), ss
#   coreutils, tar  the usual tools
# Tested with Debian 12 (systemd 252) on a host whose PID 1 is not systemd and
# whose cgroups are a v1/v2 hybrid; a pure cgroup2 host works the same way.
#
# CLI (as root):
#   throwaway-systemd.sh start  STATEDIR           boot, wait until ready (TSD_TIMEOUT)
#   throwaway-systemd.sh exec   STATEDIR CMD...    run CMD inside, exit code passed on
#   throwaway-systemd.sh cp-in  STATEDIR HOSTPATH INSIDEPATH   (file or directory)
#   throwaway-systemd.sh stop   STATEDIR           kill -9, clean up (idempotent)
#   throwaway-systemd.sh status STATEDIR           exit 0 if running
#   throwaway-systemd.sh pid    STATEDIR           print systemd's PID (host view)
# Library: `source throwaway-systemd.sh` defines one function, `tsd`, taking the
# same arguments (`tsd start DIR`, `tsd exec DIR systemctl ...`); it runs the CLI
# as a child process, so an error never exits the calling shell. Typical use:
#   trap 'tsd stop "$dir"' EXIT; tsd start "$dir" || exit 1
#
# Environment knobs:
#   TSD_TIMEOUT     seconds `start` waits for the boot (default 90)
#   TSD_TMPFS_SIZE  size of the tmpfs that holds the overlay's upper layer (1G)
#   TSD_MASK        extra unit names to mask inside (space separated)
#
# How it works (DESIGN.md, "Testing with real parts", hardened a little):
#   host:  setsid unshare --mount --pid --net --uts --ipc --fork
#                 --propagation private --kill-child=SIGKILL  bash SELF _stage2
#   stage2 (PID 1 of the new PID namespace; /proc is still the host's here):
#          writes its host PID to STATEDIR/pid; lo up; a tmpfs on STATEDIR/mnt
#          (in the private mount namespace: the host never sees it); overlay with
#          lowerdir=/ and upper/work dirs on that tmpfs; creates the cgroup2
#          subtree /throwaway-systemd.<random>, moves itself in, unshare --cgroup.
#   stage3: writes to the upper layer: a new /etc/machine-id, an empty fstab,
#          unit masks, default.target=multi-user.target, missing ssh host keys;
#          mounts a new /proc (sys, mtrr, ... read-only; /proc/sys/net writable:
#          it is the new net namespace's), a new read-only sysfs, cgroup2 (only
#          our subtree) on /sys/fs/cgroup, a private minimal /dev (null, zero,
#          full, random, urandom, tty, own devpts, shm; console -> /dev/null),
#          tmpfs on /run and /tmp; pivot_root into the overlay and detaches the
#          host's tree; execs /lib/systemd/systemd --system with
#          container=throwaway-systemd and a capability bounding set without
#          CAP_SYS_TIME, CAP_SYS_MODULE, CAP_SYSLOG, CAP_SYS_RAWIO, ...
#   stop:  kill -9 systemd and the launcher (the PID namespace dies with its
#          PID 1, the mount namespace with its last process, and every mount
#          with it), rmdir the cgroup subtree, remove the files in STATEDIR.
#
# Deviations from the recipe in DESIGN.md, all for "nothing may reach the host":
# /dev is a private minimal tmpfs rather than a bind of the host's /dev (no
# block devices, no /dev/kmsg, no host ttys); /sys is a fresh read-only sysfs
# rather than a bind (it shows only the sandbox's network interfaces), with a
# cgroup namespace + cgroup2 on /sys/fs/cgroup so systemd has a writable
# hierarchy of its own; pivot_root instead of chroot; UTS and IPC namespaces too
# (systemd sets the hostname at boot).
#
# Caveats:
#   - processes started with `exec` join all namespaces but stay in the host's
#     cgroup (outside systemd's tree); use `systemd-run --wait --pipe ...`
#     inside when a command must run as a unit of the sandbox's systemd.
#   - no hardware: no udev, no block devices, no kernel modules, no clock
#     setting, no sysctls outside /proc/sys/net, no audit, no kmsg.
#   - systemd's messages before journald starts go to /dev/null; everything
#     after is in `journalctl -b` inside.
#   - if the caller is SIGKILLed before `stop`, the sandbox keeps running until
#     `stop STATEDIR` is called (the state in STATEDIR is enough for that).

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # sourced: expose only a wrapper that runs the CLI as a child process
    TSD_SELF=$(readlink -f "${BASH_SOURCE[0]}")
    tsd() { /bin/bash "$TSD_SELF" "$@"; }
    return 0
fi

set -u
TSD_SELF=$(readlink -f "$0")
TSD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
TSD_TAG=throwaway-systemd
TSD_CG_PREFIX=throwaway-systemd.

# Units that cannot work in the sandbox, are not wanted there, or would try to
# touch the host (many of them would be skipped anyway by their conditions in
# a container; masking makes that explicit and independent of the host's setup).
TSD_MASKED_UNITS=(
    getty.target getty@.service serial-getty@.service console-getty.service
    container-getty@.service getty-static.service
    systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket
    systemd-udev-trigger.service systemd-udev-settle.service systemd-hwdb-update.service
    systemd-networkd-wait-online.service NetworkManager-wait-online.service
    ifupdown-wait-online.service networking.service
    systemd-timesyncd.service systemd-time-wait-sync.service
    systemd-modules-load.service kmod-static-nodes.service
    systemd-sysctl.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount
    proc-sys-fs-binfmt_misc.mount
    systemd-random-seed.service systemd-pstore.service systemd-firstboot.service
    systemd-remount-fs.service systemd-fsck-root.service
    systemd-machine-id-commit.service systemd-repart.service
    systemd-pcrphase.service systemd-pcrphase-sysinit.service
    systemd-journald-audit.socket
    dev-hugepages.mount sys-kernel-debug.mount sys-kernel-tracing.mount
    sys-kernel-config.mount sys-fs-fuse-connections.mount
    e2scrub_reap.service e2scrub_all.timer fstrim.timer
    apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer man-db.timer
    postgresql.service postgresql@.service
)

# Capabilities removed from systemd's bounding set: they act on the whole
# machine, not on the sandbox's namespaces.
TSD_DROP_CAPS=-sys_time,-sys_module,-syslog,-sys_rawio,-mac_admin,-mac_override,-wake_alarm,-block_suspend,-audit_control,-audit_read,-sys_pacct,-bpf,-perfmon

# Global /proc entries made read-only inside (those that exist).
TSD_RO_PROC=(sys sysrq-trigger irq bus fs acpi latency_stats timer_list kcore mtrr driver tty pressure)

tsd_log() { printf '%s: %s\n' "$TSD_TAG" "$*" >&2; }
tsd_die() { tsd_log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- host side --

tsd__statedir() {
    local d=${1:-}
    [ -n "$d" ] || tsd_die "STATEDIR argument missing"
    case "$d" in /*) ;; *) d=$PWD/$d ;; esac
    # the path goes into overlayfs mount options: keep it simple
    [[ $d =~ ^[A-Za-z0-9._/+-]+$ ]] || tsd_die "STATEDIR '$d': use only [A-Za-z0-9._/+-]"
    printf '%s\n' "${d%/}"
}

# Field 22 of /proc/PID/stat (start time), robust against spaces in comm.
tsd__starttime() {
    local stat f
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -r -a f <<< "${stat##*) }"      # f[0] is field 3
    printf '%s\n' "${f[19]}"
}

# tsd__alive PID STARTTIME: true if that very process exists and is not a
# zombie (so a recycled PID is never mistaken for it).
tsd__alive() {
    local stat f
    [[ ${1:-} =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -r -a f <<< "${stat##*) }"
    [ "${f[19]}" = "${2:-}" ] && [ "${f[0]}" != Z ] && [ "${f[0]}" != X ]
}

# Prints the host PID of our systemd if it is alive.
tsd__pid() {
    local sd=$1 pid start
    [ -r "$sd/pid" ] && [ -r "$sd/pid.start" ] || return 1
    read -r pid < "$sd/pid" && read -r start < "$sd/pid.start" || return 1
    tsd__alive "$pid" "$start" || return 1
    printf '%s\n' "$pid"
}

# Prints the launcher's (unshare's) PID if it is alive.
tsd__launcher_pid() {
    local sd=$1 lpid start
    [ -r "$sd/launcher.pid" ] || return 1
    read -r lpid start < "$sd/launcher.pid" || return 1
    tsd__alive "$lpid" "$start" || return 1
    printf '%s\n' "$lpid"
}

tsd_exec() {
    local sd pid
    sd=$(tsd__statedir "${1:-}") || exit 1; shift
    [ $# -gt 0 ] || tsd_die "exec: no command given"
    pid=$(tsd__pid "$sd") || tsd_die "exec: no throwaway systemd running for $sd"
    # same namespaces, root and cwd as systemd; same reduced bounding set
    exec nsenter -t "$pid" -m -u -i -n -p -C -r -w -- \
        /usr/bin/setpriv --bounding-set "$TSD_DROP_CAPS" -- \
        /usr/bin/env -i PATH="$TSD_PATH" HOME=/root TERM=dumb LANG=C.UTF-8 \
        USER=root LOGNAME=root SHELL=/bin/bash SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 \
        "$@"
}

# Copies a file or directory from the host into the sandbox. The data is
# streamed into a process inside rather than written through /proc/PID/root/...,
# so symlinks along INSIDEPATH resolve inside the sandbox and a write can never
# be redirected onto the host. It lands in the overlay's tmpfs upper layer.
tsd_cp_in() {
    local sd src=${2:-} dst=${3:-} mode
    sd=$(tsd__statedir "${1:-}") || exit 1
    if [ -z "$src" ] || [ -z "$dst" ]; then
        tsd_die "usage: cp-in STATEDIR HOSTPATH INSIDEPATH"
    fi
    case "$dst" in /*) ;; *) tsd_die "cp-in: INSIDEPATH must be absolute" ;; esac
    [ -e "$src" ] || tsd_die "cp-in: $src does not exist"
    tsd__pid "$sd" >/dev/null || tsd_die "cp-in: no throwaway systemd running for $sd"
    # shellcheck disable=SC2016  # $1, $2 are expanded by the shell inside
    if [ -d "$src" ]; then
        tar -C "$src" -cf - . | "$TSD_SELF" exec "$sd" /bin/sh -c \
            'mkdir -p -- "$1" && exec tar -C "$1" -xf -' sh "$dst"
    else
        mode=$(stat -L -c %a -- "$src") || exit 1
        "$TSD_SELF" exec "$sd" /bin/sh -c \
            'mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod "$2" -- "$1"' \
            sh "$dst" "$mode" < "$src"
    fi
}

tsd_status() {
    local sd pid
    sd=$(tsd__statedir "${1:-}") || exit 1
    pid=$(tsd__pid "$sd") || { echo "not running"; return 1; }
    echo "running, pid $pid, $("$TSD_SELF" exec "$sd" systemctl is-system-running 2>/dev/null)"
}

# Removes our cgroup2 subtree, deepest first. The cgroup2 hierarchy is mounted
# for that in a throwaway mount namespace, so the host's mount table never sees
# it. Succeeds once the subtree is gone; fails while processes remain in it.
tsd__rm_cgroup() {
    local mnt=$1 cgname=$2
    mkdir -p "$mnt" || return 1
    unshare --mount --propagation private -- /bin/bash "$TSD_SELF" _rmcg "$mnt" "$cgname"
}

tsd__rmcg_inner() {
    local mnt=$1 cgname=$2
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$mnt" || return 1
    [ -d "$mnt/$cgname" ] || return 0
    find "$mnt/$cgname" -depth -type d -exec rmdir {} + 2>/dev/null
    [ ! -d "$mnt/$cgname" ]
}

# Idempotent; safe from a trap; never exits the caller (it is a child process).
tsd_stop() {
    local sd pid lpid cgname deadline
    sd=$(tsd__statedir "${1:-}") || exit 1
    [ -d "$sd" ] || return 0
    # Killing PID 1 of the PID namespace kills every process in it. The
    # launcher (unshare, in the host PID namespace) then reaps it and exits.
    # Without a systemd PID (stopped early), kill the launcher: its child dies
    # with it (--kill-child=SIGKILL).
    if pid=$(tsd__pid "$sd"); then
        kill -9 "$pid" 2>/dev/null
    elif lpid=$(tsd__launcher_pid "$sd"); then
        kill -9 "$lpid" 2>/dev/null
    fi
    deadline=$((SECONDS + 30))
    while tsd__pid "$sd" >/dev/null || tsd__launcher_pid "$sd" >/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            tsd_log "stop: processes still alive after 30s (pid ${pid:-?}, launcher ${lpid:-?})"
            return 1
        fi
        sleep 0.05
    done
    if [ -r "$sd/cgroup" ]; then
        read -r cgname < "$sd/cgroup"
        [[ $cgname =~ ^throwaway-systemd\.[0-9a-f]+$ ]] ||
            { tsd_log "stop: refusing odd cgroup name '$cgname'"; return 1; }
        # the kernel frees a cgroup shortly after its last process is reaped
        deadline=$((SECONDS + 30))
        until tsd__rm_cgroup "$sd/cg" "$cgname"; do
            if [ $SECONDS -ge $deadline ]; then
                tsd_log "stop: cannot remove cgroup $cgname"; return 1
            fi
            sleep 0.05
        done
    fi
    # Every mount lived in the private mount namespace, which is gone now; on
    # the host, mnt/ and cg/ are empty directories (rmdir: never recurse into
    # anything that might be mounted).
    rm -f -- "$sd/pid" "$sd/pid.start" "$sd/pid.tmp" "$sd/launcher.pid" \
        "$sd/cgroup" "$sd/console.log" "$sd/ready"
    rmdir -- "$sd/mnt" "$sd/cg" 2>/dev/null
    rmdir -- "$sd" 2>/dev/null
    return 0
}

tsd__fail() {
    local sd=$1 msg=$2
    tsd_log "start failed: $msg"
    if tsd__pid "$sd" >/dev/null; then
        tsd_log "inside: systemctl --failed; list-jobs; journal tail:"
        timeout 10 "$TSD_SELF" exec "$sd" systemctl --failed --no-legend --plain >&2 2>&1
        timeout 10 "$TSD_SELF" exec "$sd" systemctl list-jobs --no-legend >&2 2>&1
        timeout 10 "$TSD_SELF" exec "$sd" journalctl -b --no-pager -n 40 >&2 2>&1
    fi
    if [ -s "$sd/console.log" ]; then
        tsd_log "launcher output:"
        tail -n 40 "$sd/console.log" >&2
    fi
    tsd_stop "$sd"
    exit 1
}

tsd_start() {
    local sd timeout=${TSD_TIMEOUT:-90} deadline pid lpid state c t0=$SECONDS
    sd=$(tsd__statedir "${1:-}") || exit 1
    [ "$(id -u)" = 0 ] || tsd_die "must run as root"
    for c in unshare nsenter setpriv ip ss mount pivot_root tar ssh-keygen; do
        command -v "$c" >/dev/null ||
            tsd_die "missing command $c (see the packages at the top of $TSD_SELF)"
    done
    [ -x /lib/systemd/systemd ] || tsd_die "/lib/systemd/systemd missing (apt-get install systemd)"
    [ -x /usr/sbin/sshd ] || tsd_die "/usr/sbin/sshd missing (apt-get install openssh-server)"
    [ -x /usr/bin/dbus-daemon ] || tsd_die "/usr/bin/dbus-daemon missing (apt-get install dbus)"
    ! tsd__pid "$sd" >/dev/null || tsd_die "start: already running for $sd"
    # leftovers of an earlier run that was never stopped
    if [ -e "$sd/cgroup" ] || [ -e "$sd/launcher.pid" ]; then
        tsd_stop "$sd" || tsd_die "start: cannot clean up an earlier run in $sd"
    fi
    mkdir -p "$sd/mnt" "$sd/cg" || exit 1
    local cgname
    cgname=$TSD_CG_PREFIX$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    echo "$cgname" > "$sd/cgroup"

    trap 'tsd_log "interrupted"; tsd_stop "$sd"; exit 130' INT TERM HUP
    deadline=$((SECONDS + timeout))
    setsid unshare --mount --pid --net --uts --ipc --fork --propagation private \
        --kill-child=SIGKILL -- /bin/bash "$TSD_SELF" _stage2 "$sd" "$cgname" \
        </dev/null >"$sd/console.log" 2>&1 &
    lpid=$!
    echo "$lpid $(tsd__starttime "$lpid")" > "$sd/launcher.pid"

    # 1. systemd's PID (written by stage2 just before it becomes systemd)
    until pid=$(tsd__pid "$sd"); do
        tsd__launcher_pid "$sd" >/dev/null || tsd__fail "$sd" "launcher exited before systemd started"
        [ $SECONDS -lt $deadline ] || tsd__fail "$sd" "timeout waiting for systemd's PID"
        sleep 0.05
    done
    # 2. boot finished
    while :; do
        [ -e "/proc/$pid" ] || tsd__fail "$sd" "systemd (pid $pid) died during boot"
        state=$("$TSD_SELF" exec "$sd" systemctl is-system-running 2>/dev/null)
        case "$state" in running|degraded) break ;; esac
        [ $SECONDS -lt $deadline ] ||
            tsd__fail "$sd" "timeout after ${timeout}s: is-system-running says '$state'"
        sleep 0.1
    done
    # 3. ssh.service and dbus active, the bus answering, sshd listening on :22
    local why
    while :; do
        if ! "$TSD_SELF" exec "$sd" systemctl is-active --quiet ssh.service; then
            why="ssh.service is $("$TSD_SELF" exec "$sd" systemctl is-active ssh.service)"
        elif ! "$TSD_SELF" exec "$sd" systemctl is-active --quiet dbus.service; then
            why="dbus.service is $("$TSD_SELF" exec "$sd" systemctl is-active dbus.service)"
        elif ! "$TSD_SELF" exec "$sd" busctl --timeout=2 call org.freedesktop.DBus \
                /org/freedesktop/DBus org.freedesktop.DBus GetId >/dev/null 2>&1; then
            why="the system bus does not answer"
        elif [ -z "$("$TSD_SELF" exec "$sd" ss -Hltn 'sport = :22' 2>/dev/null)" ]; then
            why="nothing listens on port 22"
        else
            break
        fi
        [ $SECONDS -lt $deadline ] || tsd__fail "$sd" "timeout after ${timeout}s: $why"
        sleep 0.1
    done
    trap - INT TERM HUP
    state=$("$TSD_SELF" exec "$sd" systemctl is-system-running 2>/dev/null)
    if [ "$state" = degraded ]; then
        tsd_log "system is degraded; failed units:"
        "$TSD_SELF" exec "$sd" systemctl --failed --no-legend --plain >&2
    fi
    touch "$sd/ready"
    tsd_log "up in $((SECONDS - t0))s: pid $pid, state $state"
}

# ------------------------------------------------- inside the new namespaces --

# PID 1 of the new PID namespace, in new mount/net/uts/ipc namespaces. /proc
# is still the host's procfs here.
tsd__stage2() {
    set -eu
    local sd=$1 cgname=$2 hostpid _
    [ "$$" = 1 ] || { echo "stage2: not PID 1 of a new PID namespace" >&2; exit 1; }
    # our PID as the host sees it (`read` is a builtin: /proc/self is us)
    read -r hostpid _ < /proc/self/stat

    ip link set lo up
    # what a booted PID 1 would have (this process's own limit, nothing global)
    ulimit -n 524288 2>/dev/null || true

    local T=$sd/mnt R=$sd/mnt/root
    mount -t tmpfs -o "mode=0755,size=${TSD_TMPFS_SIZE:-1G}" "$TSD_TAG" "$T"
    mkdir -p "$T/upper" "$T/work" "$R" "$T/cg"
    mount -t overlay "$TSD_TAG" -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$R"

    # cgroup: a subtree of the (one, shared) cgroup2 hierarchy becomes the root of
    # a new cgroup namespace; systemd inside sees and manages only that subtree.
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$T/cg"
    mkdir "$T/cg/$cgname"
    echo 0 > "$T/cg/$cgname/cgroup.procs"
    umount "$T/cg"
    rmdir "$T/cg"

    # tell the host side who we are (pid file last: its presence means ready)
    tsd__starttime "$hostpid" > "$sd/pid.start"
    echo "$hostpid" > "$sd/pid.tmp"
    mv -f "$sd/pid.tmp" "$sd/pid"

    exec unshare --cgroup -- /bin/bash "$TSD_SELF" _stage3 "$sd"
}

tsd__prepare_root() {
    local R=$1 u
    # a machine-id of its own, in the upper layer
    rm -f "$R/etc/machine-id"
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$R/etc/machine-id"
    echo >> "$R/etc/machine-id"
    # no host filesystems, swap or crypt devices
    printf '# %s: no filesystems\n' "$TSD_TAG" > "$R/etc/fstab"
    if [ -e "$R/etc/crypttab" ]; then : > "$R/etc/crypttab"; fi
    mkdir -p "$R/etc/systemd/system"
    for u in "${TSD_MASKED_UNITS[@]}" ${TSD_MASK:-}; do
        rm -rf "$R/etc/systemd/system/$u"
        ln -s /dev/null "$R/etc/systemd/system/$u"
    done
    ln -sfn /lib/systemd/system/multi-user.target "$R/etc/systemd/system/default.target"
    # sshd host keys: create any missing type (in the upper layer only)
    ssh-keygen -A -f "$R" >/dev/null
}

tsd__mkdev() {
    local D=$1
    mount -t tmpfs -o mode=0755,nosuid,size=4m "$TSD_TAG-dev" "$D"
    mknod -m 666 "$D/null" c 1 3
    mknod -m 666 "$D/zero" c 1 5
    mknod -m 666 "$D/full" c 1 7
    mknod -m 666 "$D/random" c 1 8
    mknod -m 666 "$D/urandom" c 1 9
    mknod -m 666 "$D/tty" c 5 0
    mkdir -m 755 "$D/pts"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5,nosuid,noexec devpts "$D/pts"
    ln -s pts/ptmx "$D/ptmx"
    mkdir -m 1777 "$D/shm"
    mount -t tmpfs -o mode=1777,nosuid,nodev "$TSD_TAG-shm" "$D/shm"
    ln -s /proc/self/fd "$D/fd"
    ln -s /proc/self/fd/0 "$D/stdin"
    ln -s /proc/self/fd/1 "$D/stdout"
    ln -s /proc/self/fd/2 "$D/stderr"
    # /dev/console: PID 1 writes there until journald runs. /dev/null, because a
    # regular file would be rewritten from offset 0 on each reopen. Everything
    # after journald's start is in `journalctl -b` inside.
    touch "$D/console"
    mount --bind "$D/null" "$D/console"
}

tsd__stage3() {
    set -eu
    local sd=$1 R=$1/mnt/root p

    tsd__prepare_root "$R"

    # /proc of the new PID namespace; machine-wide knobs read-only ...
    mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
    for p in "${TSD_RO_PROC[@]}"; do
        [ -e "$R/proc/$p" ] || continue
        mount --bind "$R/proc/$p" "$R/proc/$p"
        mount -o remount,bind,ro "$R/proc/$p"
    done
    # ... except the new network namespace's own sysctls
    mount --bind "$R/proc/sys/net" "$R/proc/sys/net"
    mount -o remount,bind,rw "$R/proc/sys/net"

    # a new sysfs (shows only this network namespace's interfaces), read-only;
    # our cgroup subtree on /sys/fs/cgroup, writable
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"

    tsd__mkdev "$R/dev"
    mount -t tmpfs -o mode=0755,nosuid,nodev,size=256m "$TSD_TAG-run" "$R/run"
    mount -t tmpfs -o mode=1777,nosuid,nodev,size=512m "$TSD_TAG-tmp" "$R/tmp"

    # switch root to the overlay; detach the host's tree entirely
    cd "$R"
    pivot_root . .
    umount -l .
    cd /

    exec /usr/bin/env -i container="$TSD_TAG" PATH="$TSD_PATH" TERM=dumb LANG=C.UTF-8 \
        /usr/bin/setpriv --bounding-set "$TSD_DROP_CAPS" -- \
        /lib/systemd/systemd --system --show-status=false
}

# --------------------------------------------------------------------- CLI --

case "${1:-}" in
    start)  shift; tsd_start "$@" ;;
    stop)   shift; tsd_stop "$@" ;;
    exec)   shift; tsd_exec "$@" ;;
    cp-in)  shift; tsd_cp_in "$@" ;;
    status) shift; tsd_status "$@" ;;
    pid)    shift; tsd__pid "$(tsd__statedir "${1:-}")" ;;
    _stage2) shift; tsd__stage2 "$@" ;;
    _stage3) shift; tsd__stage3 "$@" ;;
    _rmcg)   shift; tsd__rmcg_inner "$@" ;;
    *) echo "usage: $0 start|stop|status|pid STATEDIR" >&2
       echo "       $0 exec STATEDIR CMD...  |  $0 cp-in STATEDIR HOSTPATH INSIDEPATH" >&2
       exit 2 ;;
esac
