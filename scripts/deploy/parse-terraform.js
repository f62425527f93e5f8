// Parses every .tf file in a directory with @cdktf/hcl2json (Terraform cannot run here) and prints one
// JSON document merging them; exits non-zero, naming the file, on a syntax error.
const { parse } = require("@cdktf/hcl2json");
const fs = require("fs");
const path = require("path");

async function main() {
  const dir = process.argv[2];
  const merged = {};
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".tf")).sort()) {
    let doc;
    try {
      doc = await parse(file, fs.readFileSync(path.join(dir, file), "utf8"));
    } catch (e) {
      throw new Error(`${file}: ${e.message || e}`);
    }
    for (const [block, body] of Object.entries(doc)) {
      merged[block] = merged[block] || {};
      for (const [type, value] of Object.entries(body)) {
        merged[block][type] = Array.isArray(value) ? (merged[block][type] || []).concat(value)
                                                   : Object.assign(merged[block][type] || {}, value);
      }
    }
  }
  process.stdout.write(JSON.stringify(merged, null, 1));
}

main().catch((e) => {
  console.error(`parse-terraform: ${e.message}`);
  process.exit(1);
});
