// Completes package-lock.json after `npm install --package-lock-only` so that `npm ci` accepts it.
// npm leaves out optional dependencies whose metadata it cannot fetch (here: node-llama-cpp's
// Windows, macOS and RISC-V binary packages, which the registry mirror does not serve), and then
// `npm ci` refuses the lock file as out of sync. setup.sh installs with --omit=optional, so these
// packages are never fetched: a name-and-version entry is all the lock file needs.
// Usage (in tests/interop): npm install --package-lock-only --no-audit --no-fund && node lock.mjs
import fs from "node:fs";

const file = new URL("./package-lock.json", import.meta.url);
const lock = JSON.parse(fs.readFileSync(file, "utf8"));
const packages = lock.packages;
for (const entry of Object.values(packages)) {
    for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
        const key = `node_modules/${name}`;
        if (key in packages) continue;
        packages[key] = {version, optional: true};
        console.log(`lock: added ${name}@${version} (optional, not fetched)`);
    }
}
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + "\n");
