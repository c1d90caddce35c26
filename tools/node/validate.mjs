// Validates glTF/GLB files with the Khronos glTF validator and prints one JSON object:
// {"<path>": {"errors": n, "warnings": n, "infos": n, "hints": n, "messages": [...]}, ...}
// Usage: node tools/node/validate.mjs FILE.glb [FILE.glb ...]
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import validator from "gltf-validator";

const out = {};
for (const path of process.argv.slice(2)) {
  const report = await validator.validateBytes(new Uint8Array(await readFile(path)), {
    uri: basename(path),
    maxIssues: 0, // report every issue, not the first hundred
    writeTimestamp: false,
  });
  const issues = report.issues;
  out[path] = {
    validator: report.validatorVersion,
    errors: issues.numErrors,
    warnings: issues.numWarnings,
    infos: issues.numInfos,
    hints: issues.numHints,
    messages: issues.messages.map((m) => ({ code: m.code, severity: m.severity, message: m.message, pointer: m.pointer })),
  };
}
console.log(JSON.stringify(out));
