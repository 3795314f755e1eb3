#!/usr/bin/env bash
# Fetch the retrieval benchmark's material (issue 22): freely licensed game and demo music from
# Debian packages, listed with licences and checksums in benchmarks/retrieval_material.tsv.
#
#   scripts/fetch_retrieval_material.sh [DIR]
#
# DIR defaults to $SIMDPS_RETRIEVAL_DIR, else ~/.cache/simdps-studio/retrieval. Each package is
# downloaded with `apt-get download PKG=VERSION` into DIR/debs and unpacked with `dpkg-deb -x`
# into DIR/pkgs/PKG: nothing is installed system-wide and nothing goes into the repository.
# Idempotent: packages already unpacked are skipped; every listed file is checked against its
# SHA-256 each time. Needs apt's package lists (`apt-get update` once) and network access.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$here/../benchmarks/retrieval_material.tsv"
dir="${1:-${SIMDPS_RETRIEVAL_DIR:-$HOME/.cache/simdps-studio/retrieval}}"
mkdir -p "$dir/debs" "$dir/pkgs"

# Unique package=version pairs of the manifest (columns 5 and 6, header skipped).
mapfile -t pairs < <(tail -n +2 "$manifest" | cut -f5,6 | sort -u)
for pair in "${pairs[@]}"; do
    pkg="${pair%%$'\t'*}"
    ver="${pair#*$'\t'}"
    stamp="$dir/pkgs/$pkg/.unpacked-${ver//:/_}"
    [[ -f "$stamp" ]] && continue
    echo "fetching $pkg $ver"
    if ! (cd "$dir/debs" && apt-get download -q "$pkg=$ver" >/dev/null); then
        echo "error: could not download $pkg=$ver (run 'apt-get update' first; the version may" \
            "have left the archive: see docs/retrieval.md)" >&2
        exit 1
    fi
    deb="$(ls -t "$dir/debs/${pkg}_"*.deb | head -n 1)"
    rm -rf "$dir/pkgs/$pkg"
    mkdir -p "$dir/pkgs/$pkg"
    dpkg-deb -x "$deb" "$dir/pkgs/$pkg"
    touch "$stamp"
done

# Verify every file (columns: 5 package, 11 sha256 list, 12 file list; lists split on '|').
bad=0
count=0
while IFS=$'\t' read -r id _ _ _ pkg _ _ _ _ _ sums files; do
    IFS='|' read -r -a sum_list <<<"$sums"
    IFS='|' read -r -a file_list <<<"$files"
    for i in "${!file_list[@]}"; do
        path="$dir/pkgs/$pkg/${file_list[$i]}"
        if [[ ! -f "$path" ]] || ! echo "${sum_list[$i]}  $path" | sha256sum --quiet -c - >/dev/null 2>&1; then
            echo "checksum mismatch or missing: $id: $path" >&2
            bad=1
        fi
    done
    count=$((count + 1))
done < <(tail -n +2 "$manifest")
if [[ $bad -ne 0 ]]; then
    echo "error: some files do not match benchmarks/retrieval_material.tsv" >&2
    exit 1
fi
echo "ok: $count recordings verified in $dir"
