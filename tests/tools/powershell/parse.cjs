// Parses PowerShell files with the tree-sitter PowerShell grammar (its
// WebAssembly build, loaded offline by web-tree-sitter) and prints each
// syntax error as FILE:LINE:COLUMN: what. Exit 0 when every file parses, 1
// when one does not, 2 on bad use. Syntax only: nothing is run, so a wrong
// command name or parameter is not found here (Debian has no PowerShell).
// usage: node parse.cjs [--modules DIR] FILE...
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

function problems(node, found) {
  if (node.isMissing) {
    found.push([node.startPosition, `missing ${node.type}`]);
  } else if (node.type === 'ERROR') {
    found.push([node.startPosition, `unexpected ${JSON.stringify(node.text.split('\n')[0].slice(0, 40))}`]);
    return found;  // its children are part of the same error
  }
  if (node.hasError) {
    for (const child of node.children) problems(child, found);
  }
  return found;
}

async function main(argv) {
  let modules = path.join(__dirname, 'node_modules');
  if (argv[0] === '--modules') {
    modules = argv[1];
    argv = argv.slice(2);
  }
  if (argv.length === 0 || argv[0].startsWith('-')) {
    console.error('usage: node parse.cjs [--modules DIR] FILE...');
    return 2;
  }
  // Resolved as from a file in that folder, so that the packages' export maps apply.
  const load = createRequire(path.join(path.resolve(modules), 'parse.cjs'));
  const { Parser, Language } = load('web-tree-sitter');
  await Parser.init();
  const grammar = path.join(path.dirname(load.resolve('tree-sitter-powershell/package.json')),
                            'tree-sitter-powershell.wasm');
  const parser = new Parser();
  parser.setLanguage(await Language.load(grammar));
  let failed = 0;
  for (const file of argv) {
    const tree = parser.parse(fs.readFileSync(file, 'utf8'));
    const found = tree.rootNode.hasError ? problems(tree.rootNode, []) : [];
    for (const [at, what] of found) console.log(`${file}:${at.row + 1}:${at.column + 1}: ${what}`);
    failed += found.length > 0;
  }
  console.log(`${argv.length - failed} of ${argv.length} file(s) parse`);
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (error) => {
  console.error(`parse.cjs: ${error.message}`);
  process.exit(2);
});
