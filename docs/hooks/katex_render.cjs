// Typeset TeX with KaTeX for docs/hooks/katex.py: one process per site build.
//
// Reads one JSON line per page, {"items": [{"tex": "...", "display": true}, ...]}, and answers
// with one JSON line, {"results": [{"html": "..."} or {"error": "..."}, ...]}, in the same order.
// KaTeX comes from node_modules (the version pinned in package.json, installed by `npm ci`).
"use strict";
const katex = require("katex");
const readline = require("readline");

const lines = readline.createInterface({ input: process.stdin, terminal: false });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const { items } = JSON.parse(line);
  const results = items.map(({ tex, display }) => {
    try {
      return {
        html: katex.renderToString(tex, {
          displayMode: Boolean(display),
          output: "htmlAndMathml", // glyphs for the eye, MathML for screen readers
          throwOnError: true, // a parse error is reported to the build, never shipped
          strict: "ignore", // LaTeX-faithfulness hints are not errors: KaTeX renders them
          trust: false, // no \href, \url or \includegraphics from page text
        }),
      };
    } catch (err) {
      return { error: String(err && err.message ? err.message : err) };
    }
  });
  process.stdout.write(JSON.stringify({ results, version: katex.version }) + "\n");
});
