#!/usr/bin/env bash
# Re-fetch the pinned view library from the npm registry into this folder (no build step).
# Files: preact.module.js, hooks.module.js (its `from "preact"` rewritten to a relative
# path, since browsers cannot resolve bare specifiers without an import map, which the
# strict CSP would refuse inline), htm.module.js, and each package's LICENSE.
# Change a version here, run `bash update.sh`, check `git diff`, run the browser tests.
set -euo pipefail
PREACT=10.29.8
HTM=3.1.1
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "preact@$PREACT" "htm@$HTM" >/dev/null
mkdir preact htm
tar xzf "preact-$PREACT.tgz" -C preact --strip-components=1
tar xzf "htm-$HTM.tgz" -C htm --strip-components=1
cp preact/dist/preact.module.js "$here/preact.module.js"
sed 's#from"preact"#from"./preact.module.js"#g' preact/hooks/dist/hooks.module.js > "$here/hooks.module.js"
cp htm/dist/htm.module.js "$here/htm.module.js"
cp preact/LICENSE "$here/LICENSE-preact"
cp htm/LICENSE "$here/LICENSE-htm"
# the source-map comments point at files we do not ship
sed -i '/^\/\/# sourceMappingURL=/d' "$here"/*.module.js
printf 'preact %s\nhtm %s\n' "$PREACT" "$HTM" > "$here/VERSIONS"
echo "vendored preact $PREACT, htm $HTM into $here"
