#!/usr/bin/env bash
# Add the bundled app to the desktop's application menu (Linux, freedesktop.org), for this user:
#   packaging/install_desktop_entry.sh [BUNDLE_DIR]     (default: dist/simdps-studio)
# Installs ~/.local/share/applications/simdps-studio.desktop (Exec pointing at the bundle), the icon
# into the hicolor theme, and a `simdps-studio` link in ~/.local/bin. Undo with --uninstall.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
apps="$data/applications"
icons="$data/icons/hicolor"
bin="$HOME/.local/bin"

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$apps/simdps-studio.desktop" "$icons/256x256/apps/simdps-studio.png" \
        "$icons/scalable/apps/simdps-studio.svg" "$bin/simdps-studio"
  echo "removed the SimDPS Studio menu entry"
  exit 0
fi

bundle="$(cd "${1:-$here/dist/simdps-studio}" && pwd)"
exe="$bundle/simdps-studio"
res="$bundle/_internal/resources"
[ -x "$exe" ] || { echo "error: no bundle at $bundle (run make dist)" >&2; exit 2; }

mkdir -p "$apps" "$icons/256x256/apps" "$icons/scalable/apps" "$bin"
install -m 644 "$res/icons/simdps-studio.png" "$icons/256x256/apps/simdps-studio.png"
install -m 644 "$res/icons/simdps-studio.svg" "$icons/scalable/apps/simdps-studio.svg"
ln -sfn "$exe" "$bin/simdps-studio"
# Exec and TryExec with the bundle's absolute path: the menu entry works without ~/.local/bin on PATH.
sed -e "s|^Exec=simdps-studio|Exec=\"$exe\"|" -e "s|^TryExec=.*|TryExec=$exe|" \
  "$res/simdps-studio.desktop" > "$apps/simdps-studio.desktop"
chmod 644 "$apps/simdps-studio.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$apps" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$icons" || true
echo "installed: $apps/simdps-studio.desktop -> $exe"
