#!/usr/bin/env bash
# Adds Debian's Chromium to a sandbox rootfs, for the browser profile: the
# browser, exactly the shared libraries it and its own libraries load (ldd,
# plus the NSS modules it opens at run time), the fonts fontconfig finds,
# and a managed policy that refuses what the sandbox must not show a page
# (local files, browser-internal pages, downloads). Called by rootfs.sh.
#
#   scripts/rootfs-browser.sh ROOTFS_DIR
set -euo pipefail
out=$1
chromium=/usr/lib/chromium
[[ -x $chromium/chromium ]] || { echo "Chromium is not installed ($chromium): run just deps" >&2; exit 1; }

mkdir -p "$out"/{etc,usr/lib,usr/lib64,usr/share/fonts}
# Debian's merged /usr: /lib and /lib64 are links into it.
ln -sfn usr/lib "$out/lib"
ln -sfn usr/lib64 "$out/lib64"
# Hard links when the rootfs is on the same filesystem (400 MB otherwise).
cp -al "$chromium" "$out/usr/lib/chromium" 2>/dev/null || cp -a "$chromium" "$out/usr/lib/chromium"

nss=(/usr/lib/x86_64-linux-gnu/libsoftokn3.so /usr/lib/x86_64-linux-gnu/libfreeblpriv3.so /usr/lib/x86_64-linux-gnu/libnssckbi.so)
libs=$(
  for f in "$chromium/chromium" "$chromium"/*.so "$chromium"/*.so.1 "$chromium/chrome_crashpad_handler" "${nss[@]}"; do
    [[ -e $f ]] && ldd "$f" 2>/dev/null | awk '/=>/ {print $3} /^[ \t]*\/lib/ {print $1}'
  done | grep '^/' | sort -u
  printf '%s\n' "${nss[@]}"
)
for lib in $libs; do
  [[ -e $lib ]] || continue
  real=$(realpath "$lib")
  dir=$(realpath "$(dirname "$lib")")
  mkdir -p "$out$(dirname "$real")" "$out$dir"
  [[ -e $out$real ]] || cp "$real" "$out$real"
  [[ -e $out$dir/$(basename "$lib") ]] || ln -s "$real" "$out$dir/$(basename "$lib")"
done
ln -sf /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$out/usr/lib64/ld-linux-x86-64.so.2"

cp -a /usr/share/fonts/truetype "$out/usr/share/fonts/"
cp -a /etc/fonts "$out/etc/"

# The browser's own refusals, beside the runner's guard: no file:, no
# browser-internal or source pages, no WebSockets (the Fetch domain cannot
# pause them, so the host never sees them), no downloads.
mkdir -p "$out/etc/chromium/policies/managed"
cat >"$out/etc/chromium/policies/managed/moat.json" <<'JSON'
{
  "URLBlocklist": ["file://*", "chrome://*", "chrome-untrusted://*", "devtools://*", "view-source:*",
                   "filesystem:*", "ftp://*", "ws://*", "wss://*", "javascript://*"],
  "DownloadRestrictions": 3,
  "DefaultPluginsSetting": 2,
  "PrintingEnabled": true,
  "BackgroundModeEnabled": false,
  "MetricsReportingEnabled": false
}
JSON
