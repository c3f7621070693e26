#!/usr/bin/env bash
# Build and install the TimescaleDB extension (Apache edition) for PostgreSQL 15 from Debian's
# source package. Bookworm has no binary package; trixie's source builds cleanly against bookworm's
# postgresql-server-dev-15. A private apt source list is used so the system's apt configuration is
# never touched. The built tree is cached under $STOCKULA_CACHE_DIR so a second run only reinstalls.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
CACHE_DIR=${STOCKULA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stockula}
SUITE=${STOCKULA_TIMESCALEDB_SUITE:-trixie}

pkglibdir=$("$PG_CONFIG" --pkglibdir)
sharedir=$("$PG_CONFIG" --sharedir)
if ls "$pkglibdir"/timescaledb*.so >/dev/null 2>&1 && [ -f "$sharedir/extension/timescaledb.control" ]; then
  echo "timescaledb: already installed ($(grep default_version "$sharedir/extension/timescaledb.control"))"
  exit 0
fi

mkdir -p "$CACHE_DIR/apt/lists/partial" "$CACHE_DIR/apt/cache/archives/partial" "$CACHE_DIR/src"
srclist="$CACHE_DIR/apt/sources.list"
echo "deb-src http://deb.debian.org/debian $SUITE main" > "$srclist"
apt_opts=(-o "Dir::Etc::SourceList=$srclist" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$CACHE_DIR/apt/lists" -o "Dir::Cache=$CACHE_DIR/apt/cache"
          -o "APT::Sandbox::User=root")

builddir=$(find "$CACHE_DIR/src" -maxdepth 1 -type d -name 'timescaledb-*' | sort | tail -n 1)
if [ -z "$builddir" ] || [ ! -f "$builddir/build/.stockula-built" ]; then
  if [ -z "$builddir" ]; then
    echo "timescaledb: fetching the $SUITE source package"
    apt-get "${apt_opts[@]}" -qq update
    (cd "$CACHE_DIR/src" && apt-get "${apt_opts[@]}" -qq source timescaledb)
    builddir=$(find "$CACHE_DIR/src" -maxdepth 1 -type d -name 'timescaledb-*' | sort | tail -n 1)
  fi
  echo "timescaledb: building in $builddir"
  cd "$builddir"
  rm -rf build
  ./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
    -DPG_CONFIG="$PG_CONFIG" >/dev/null
  make -C build -j"$(nproc)" >/dev/null
  touch build/.stockula-built
fi
make -C "$builddir/build" install >/dev/null
echo "timescaledb: installed into $pkglibdir"
