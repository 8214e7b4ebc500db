#!/usr/bin/env bash
# Debian packages the service tests use: chromium (the results page, driven by Playwright) and
# postgresql (the store on a real PostgreSQL). Installed only when missing; needs root (CI is).
# Without them the tests that need them skip and say why.
set -uo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -f /usr/share/wordnet/data.noun ] || need+=(wordnet-base)
# labelled images for the image-diff benchmark and tests (fashion-mnist, emoji, clip art)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
[ -f /usr/share/unicode/emoji/emoji-test.txt ] || need+=(unicode-data)
[ -d /usr/share/tuxpaint/stamps ] || need+=(tuxpaint-stamps-default)
[ ${#need[@]} -eq 0 ] && { echo "[system-deps] chromium and postgresql present"; exit 0; }
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "[system-deps] missing ${need[*]} and cannot apt-get install (not root or not Debian); those tests will skip"
  exit 0
fi
echo "[system-deps] installing ${need[*]} (apt, once)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  || echo "[system-deps] apt-get install ${need[*]} failed; those tests will skip"
