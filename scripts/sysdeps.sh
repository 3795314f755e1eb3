#!/usr/bin/env bash
# Install the Debian packages SimDPS Studio needs when they are missing and apt-get is usable;
# otherwise say what to install. Never fails the build: without PortAudio playback is disabled,
# without FluidSynth only the training-data and demo renderers are unavailable.
set -u
pkgs=(
  libsndfile1 libportaudio2 libasound2                    # audio I/O and playback
  fluidsynth timgm6mb-soundfont                           # piano renderer (tests use TimGM6mb)
  fluid-soundfont-gm musescore-general-soundfont-small    # corpus and demo SoundFonts
  libegl1 libgl1 libfontconfig1 libdbus-1-3 fonts-dejavu-core            # Qt
  libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1            # Qt's xcb platform
  xvfb xauth                                              # screenshots of the real window
)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
else
  ldconfig -p 2>/dev/null | grep -q libportaudio.so || missing+=(libportaudio2)
  command -v fluidsynth >/dev/null 2>&1 || missing+=(fluidsynth)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    # One unavailable package must not block the rest.
    for p in "${missing[@]}"; do
      apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 ||
        echo "warning: apt-get could not install $p" >&2
    done
  fi
else
  echo "note: please install these system packages: ${missing[*]}" >&2
  echo "      (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
fi
exit 0
