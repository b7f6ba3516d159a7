// `npm start`'s and `npm test`'s first step: plain JavaScript, so that the Node.js it finds can run it whatever its
// version. npm's scripts run node_modules/.bin/node, the Node.js 24 that `npm install` puts there (the `node`
// devDependency), before any other on PATH; this is one clear line where that did not happen (an install with
// --ignore-scripts, which skips the step that fetches it), instead of Node's ERR_UNKNOWN_FILE_EXTENSION for a .ts
// file.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `Keyward needs Node.js 22.18 or newer and npm's scripts run ${process.version} (${process.execPath}): ` +
      'node_modules/.bin/node is missing; "npm rebuild node --ignore-scripts=false" puts it there.',
  );
  process.exit(1);
}
