#!/usr/bin/env bash
# Install the system libraries SimDPS Studio needs, when they are missing and apt-get is usable;
# otherwise say what to install. Never fails the build for an optional library.
set -u
need=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib libportaudio.so || need+=(libportaudio2)
have_lib libsndfile.so || need+=(libsndfile1)
# Qt's xcb/offscreen platform plugins need these at run time.
have_lib libEGL.so || need+=(libegl1)
have_lib libxkbcommon.so || need+=(libxkbcommon0)
have_lib libfontconfig.so || need+=(libfontconfig1)
have_lib libGL.so || need+=(libgl1)
have_lib libdbus-1.so || need+=(libdbus-1-3)
command -v fluidsynth >/dev/null 2>&1 || need+=(fluidsynth)
[ -f /usr/share/sounds/sf2/TimGM6mb.sf2 ] || need+=(timgm6mb-soundfont)
# Piano SoundFonts for the training corpus and the demo (`make demo`, `data render-piano`).
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || need+=(fluid-soundfont-gm)
[ -f /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 ] || need+=(musescore-general-soundfont-small)
[ ${#need[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "Installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
    echo "warning: apt-get could not install: ${need[*]}" >&2
  fi
else
  echo "note: please install these system packages: ${need[*]}" >&2
  echo "      (Debian/Ubuntu: sudo apt-get install ${need[*]})" >&2
  echo "      Playback stays disabled without libportaudio2; everything else works." >&2
fi
exit 0
