#!/usr/bin/env bash
# Vendor KaTeX into docs/assets/katex/ so math renders with no request to
# another host. Uses only npm (registry tarball), never a CDN.
#
#   scripts/vendor-katex.sh            # re-vendor the pinned version
#   scripts/vendor-katex.sh 0.16.48    # upgrade
#
# Copies: katex.min.js, katex.min.css, contrib/auto-render.min.js,
# fonts/*.woff2, LICENSE; writes VERSION (version + npm tarball integrity).
set -euo pipefail

VERSION="${1:-0.16.47}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/docs/assets/katex"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

cd "$TMP"
npm pack --silent "katex@$VERSION" >/dev/null
TARBALL="$(ls katex-*.tgz)"

# Check the downloaded tarball against the integrity the registry publishes.
INTEGRITY="$(npm view "katex@$VERSION" dist.integrity)"
ACTUAL="sha512-$(openssl dgst -sha512 -binary "$TARBALL" | base64 -w0)"
if [[ "$INTEGRITY" != "$ACTUAL" ]]; then
  echo "integrity mismatch: registry $INTEGRITY, tarball $ACTUAL" >&2
  exit 1
fi

tar -xzf "$TARBALL"
SRC="$TMP/package"
[[ "$(node -p "require('$SRC/package.json').version")" == "$VERSION" ]]

# The css must reference woff2 first, so browsers never fetch woff/ttf.
if grep -o 'src:url([^)]*)' "$SRC/dist/katex.min.css" | grep -qv '\.woff2)'; then
  echo "katex.min.css: some @font-face src does not list woff2 first" >&2
  exit 1
fi

rm -rf "$DEST"
mkdir -p "$DEST/contrib" "$DEST/fonts"
cp "$SRC/dist/katex.min.js" "$SRC/dist/katex.min.css" "$DEST/"
cp "$SRC/dist/contrib/auto-render.min.js" "$DEST/contrib/"
cp "$SRC"/dist/fonts/*.woff2 "$DEST/fonts/"
cp "$SRC/LICENSE" "$DEST/"
printf 'katex %s\nnpm integrity %s\n' "$VERSION" "$INTEGRITY" > "$DEST/VERSION"

echo "vendored katex $VERSION into ${DEST#"$ROOT"/} ($(du -sk "$DEST" | cut -f1) KB)"
