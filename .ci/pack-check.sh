#!/usr/bin/env bash
# Pack-and-consume: packs the package as `npm publish` would (prepack builds it), checks what
# the tarball holds, installs it into a scratch project outside the repository, type-checks a
# consumer (.ci/pack-check/consumer.ts) under strict tsc with module/moduleResolution nodenext
# and with bundler, runs it, and require()s the package from CommonJS. Prints the tarball's
# size and file count. Only the npm registry is needed (typescript and @types/node at the
# repository's versions, usually from npm's cache).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

npm pack --silent --json --pack-destination "$work" > "$work/pack.json"
node - "$work/pack.json" <<'JS'
const [info] = JSON.parse(require('node:fs').readFileSync(process.argv[2], 'utf8'));
const paths = info.files.map((f) => f.path);
const bad = paths.filter((p) => /(^|\/)demo(\.|\/)|\.map$|^docs\/api\/|^test\/|^bench\/|^src\/|^machines\//.test(p));
const required = ['LICENSE', 'README.md', 'package.json', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/machines/index.js', 'dist/machines/index.d.ts', 'dist/src/dashboard/index.js', 'dist/src/dashboard/index.d.ts', 'docs/observability.md', 'docs/dashboard.md'];
const missing = required.filter((p) => !paths.includes(p));
console.log(`pack-check: ${info.filename}: ${(info.size / 1024).toFixed(1)} kB packed, ${(info.unpackedSize / 1024).toFixed(1)} kB unpacked, ${info.entryCount} files`);
if (bad.length > 0 || missing.length > 0) {
  console.error(`pack-check: unexpected files: ${bad.join(', ') || 'none'}; missing: ${missing.join(', ') || 'none'}`);
  process.exit(1);
}
JS
tarball="$work/$(node -p "JSON.parse(require('fs').readFileSync('$work/pack.json','utf8'))[0].filename")"

ts_version=$(node -p "require('$repo/node_modules/typescript/package.json').version")
types_node_version=$(node -p "require('$repo/node_modules/@types/node/package.json').version")
consumer="$work/consumer"
mkdir -p "$consumer"
cp .ci/pack-check/consumer.ts .ci/pack-check/require.cjs "$consumer/"
cd "$consumer"
cat > package.json <<'JSON'
{ "name": "pack-check-consumer", "private": true, "type": "module" }
JSON
npm install --silent --no-audit --no-fund --prefer-offline "$tarball" "typescript@$ts_version" "@types/node@$types_node_version"

# Strict, and checking the package's declarations too (skipLibCheck off). Not exactOptionalPropertyTypes:
# xstate's own declarations fail under it.
common='"strict": true, "skipLibCheck": false, "target": "ES2022", "lib": ["ES2023"], "types": ["node"], "noUncheckedIndexedAccess": true'
cat > tsconfig.nodenext.json <<JSON
{ "compilerOptions": { $common, "module": "nodenext", "moduleResolution": "nodenext", "outDir": "out" }, "files": ["consumer.ts"] }
JSON
cat > tsconfig.bundler.json <<JSON
{ "compilerOptions": { $common, "module": "esnext", "moduleResolution": "bundler", "noEmit": true }, "files": ["consumer.ts"] }
JSON
npx tsc -p tsconfig.nodenext.json
echo "pack-check: tsc (module/moduleResolution nodenext, strict): ok"
npx tsc -p tsconfig.bundler.json
echo "pack-check: tsc (moduleResolution bundler, strict): ok"
node out/consumer.js
node require.cjs
