#!/usr/bin/env bash
# Prepare the private test world, run "$@" in it, tear it down, return "$@"'s exit status.
#
# Run as root inside a fresh mount + network namespace, never directly on a machine:
#   unshare -m -n --propagation private bash tests/harness/ns_enter.sh CMD [ARGS...]
# (scripts/test does this.) Everything changed here is private to that namespace: the loopback
# interface and its test addresses, a copy of /etc bind-mounted over /etc, a tmpfs over /dev,
# and a dnsmasq serving the conformance zone plus our own crafted records on 127.0.0.1:53.
# The machine's own /etc, /dev and network are never modified. See tests/harness/README.md.
set -euo pipefail

if [ "${TCPWRAP_NS:-}" = 1 ]; then
  exec "$@"          # already inside: nothing to prepare
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# the name-service world of the recorded conformance runs, kept in the repository
conf=$here/../conformance/recorded/conf

die() { echo "ns_enter.sh: $*" >&2; exit 97; }
[ "$(id -u)" = 0 ] || die "must run as root inside 'unshare -m -n --propagation private'"
# Refuse to run in the host's own network namespace: we are about to add addresses and routes.
links=$(ip -o link show)
if grep -qv ': lo:' <<<"$links"; then
  die "network interfaces other than lo are visible: not in a fresh network namespace"
fi
for f in hosts nsswitch.conf netgroup inetd.conf; do
  [ -f "$conf/$f" ] || die "missing $conf/$f"
done

# --- staging area: a tmpfs private to this namespace, so nothing is left on disk -------------
stage=$(mktemp -d /tmp/tcpwrap-ns.XXXXXX)
mount -t tmpfs -o mode=700 tcpwrap-ns "$stage"
dnsmasq_pid=
cleanup() {
  if [ -n "$dnsmasq_pid" ]; then kill "$dnsmasq_pid" 2>/dev/null || true; fi
  # Leaving the namespace drops every mount; only the empty mount-point directory stays behind.
  umount -l /dev /etc "$stage" 2>/dev/null || true
  rmdir "$stage" 2>/dev/null || true
}
trap cleanup EXIT

# --- network: lo up, the conformance addresses local ----------------------------------------
ip link set lo up
ip route add local 192.0.2.0/24 dev lo                  # every 192.0.2.x is bindable
for a in 198.51.100.7 203.0.113.5 203.0.113.74 10.1.2.3 172.16.5.4; do
  ip addr add "$a/32" dev lo
done
for a in 2001:db8::1 2001:db8:1::5; do
  ip -6 addr add "$a/128" dev lo nodad
done
# 127.0.0.0/8 is local already (lo's own 127.0.0.1/8).

# --- a private /etc -------------------------------------------------------------------------
# The machine's own /etc stays visible, read-only, at $stage/host-etc (tests check it is intact).
mkdir "$stage/host-etc"
mount --bind /etc "$stage/host-etc"
mount -o remount,bind,ro "$stage/host-etc"
cp -a /etc "$stage/etc"
for f in hosts nsswitch.conf netgroup inetd.conf; do
  rm -f "$stage/etc/$f"; cp "$conf/$f" "$stage/etc/$f"
done
# Hostile-but-consistent names that glibc's DNS parser would refuse (see README.md).
cat "$here/hosts.e2e" >> "$stage/etc/hosts"
rm -f "$stage/etc/resolv.conf" "$stage/etc/hosts.allow" "$stage/etc/hosts.deny"
printf 'nameserver 127.0.0.1\n' > "$stage/etc/resolv.conf"
mount --bind "$stage/etc" /etc

# --- a private /dev: the usual nodes, and room for tests to bind /dev/log --------------------
mkdir "$stage/nodes"
nodes=(null zero full random urandom tty)
for d in "${nodes[@]}"; do
  touch "$stage/nodes/$d"; mount --bind "/dev/$d" "$stage/nodes/$d"
done
mount -t tmpfs -o mode=755 tcpwrap-dev /dev
for d in "${nodes[@]}"; do
  touch "/dev/$d"; mount --bind "$stage/nodes/$d" "/dev/$d"
done
mkdir -m 1777 /dev/shm
mkdir /dev/pts
# A private pseudo-terminal instance (tests that need a terminal on stdin use os.openpty()).
if mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 tcpwrap-pts /dev/pts 2>/dev/null; then
  ln -s pts/ptmx /dev/ptmx
fi
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr

# --- DNS: dnsmasq on 127.0.0.1:53 ---------------------------------------------------------------
# dnsmasq daemonises only once its sockets are bound and its configuration parsed, so when the
# command returns 0 the server answers.
/usr/sbin/dnsmasq \
  --conf-file="$here/dnsmasq-conformance.conf" \
  --conf-file="$here/dnsmasq-e2e.conf" \
  --user=root --group=root \
  --pid-file="$stage/dnsmasq.pid" \
  --log-queries --log-facility="$stage/dnsmasq.log" \
  || die "dnsmasq failed to start"
dnsmasq_pid=$(cat "$stage/dnsmasq.pid")

export TCPWRAP_NS=1
export TCPWRAP_NS_STAGE="$stage"
export TCPWRAP_NS_DNSMASQ_LOG="$stage/dnsmasq.log"

set +e
"$@"
rc=$?
set -e
exit "$rc"
