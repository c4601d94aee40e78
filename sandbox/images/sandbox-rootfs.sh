#!/usr/bin/env bash
# Finishes a freshly debootstrapped Debian root file system as the synthgym sandbox image
# (synthgym image build runs: debootstrap --variant=minbase --include=<packages> bookworm ROOTFS MIRROR,
#  then this script, then tar -C ROOTFS -c . | docker import).
# The text of this file is part of the image's recipe hash: change it and the image tag changes.
#
# usage: sandbox-rootfs.sh ROOTFS        (as root)
set -euo pipefail
root=${1:?usage: sandbox-rootfs.sh ROOTFS}
[ -x "$root/bin/bash" ] && [ -f "$root/var/lib/dpkg/status" ] || { echo "$root is not a debootstrapped root file system" >&2; exit 1; }
cd "$root"

# The agent's account, as in MLGym's image (aigym/mlgym-agent): user agent, uid 1000, group mlgym, gid 1000,
# home /home/agent, work in /home/agent/workspace. Written directly so the result does not depend on useradd.
grep -q '^mlgym:' etc/group || echo 'mlgym:x:1000:' >> etc/group
grep -q '^mlgym:' etc/gshadow || echo 'mlgym:!::' >> etc/gshadow
grep -q '^agent:' etc/passwd || echo 'agent:x:1000:1000:synthgym agent:/home/agent:/bin/bash' >> etc/passwd
grep -q '^agent:' etc/shadow || echo 'agent:*:19700:0:99999:7:::' >> etc/shadow
install -d -m 0755 -o 1000 -g 1000 home/agent home/agent/workspace
cp -a etc/skel/. home/agent/
chown -R 1000:1000 home/agent

# Debian's Docker images do the same: no docs or caches in later apt installs either.
mkdir -p etc/dpkg/dpkg.cfg.d etc/apt/apt.conf.d
cat > etc/dpkg/dpkg.cfg.d/synthgym-nodoc <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cat > etc/apt/apt.conf.d/synthgym-clean <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
Acquire::GzipIndexes "true"; Acquire::CompressionTypes::Order:: "gz";
APT::Install-Recommends "false";
EOF

# Shrink: package caches and lists, docs (copyright files stay), man pages, translations, logs.
rm -rf var/cache/apt/archives/*.deb var/cache/apt/archives/partial/* var/cache/apt/*.bin var/lib/apt/lists/*
mkdir -p var/lib/apt/lists/partial
find usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find usr/share/doc -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf usr/share/man/* usr/share/info/* usr/share/lintian usr/share/linda
find usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
find var/log -type f -delete
# bookworm's python3-scipy depends on python3-pythran, which pulls in g++, libboost-dev and libopenblas-dev. The
# compiler stays (MLGym's image has gcc/g++ too); the Boost headers and OpenBLAS's static archive (220 MB, needed only
# to compile Pythran extensions or link OpenBLAS statically) go. `apt-get install --reinstall libboost1.74-dev` restores.
rm -rf usr/include/boost
find usr/lib -path '*/openblas*/libopenblas*.a' -delete
rm -rf var/cache/debconf/*-old var/lib/dpkg/*-old tmp/* var/tmp/* root/.cache debootstrap

# A record of what is inside, for `docker run IMAGE cat /etc/synthgym-image`.
{
  echo "synthgym sandbox image"
  echo "debian: $(cat etc/debian_version)"
  echo "python: $(chroot . python3 -c 'import sys; print(sys.version.split()[0])')"
  echo "packages: $(chroot . dpkg-query -W -f '${Package}\n' | wc -l)"
} > etc/synthgym-image

# Host leftovers Docker replaces at run time anyway (it bind-mounts resolv.conf, hostname, hosts, mounts /dev).
: > etc/resolv.conf
: > etc/hostname
: > etc/machine-id
rm -rf dev/*
mkdir -p proc sys dev tmp
chmod 1777 tmp var/tmp
