// `npm start`'s and `npm test`'s first step: plain JavaScript, so that any Node.js can run it. npm's scripts run
// node_modules/.bin/node, the Node.js 24 that `npm install` puts there on Linux (x64, arm64) and Intel macOS
// (scripts/pinned-node), before any other on PATH. Where it is not there (another platform, or an install with
// --omit=optional) and the Node.js on PATH is older than 22.18, this is one clear line instead of Node's
// ERR_UNKNOWN_FILE_EXTENSION for a .ts file.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `Keyward needs Node.js 22.18 or newer and npm's scripts run ${process.version} (${process.execPath}), ` +
      `since npm install put no Node.js of its own in node_modules/.bin on ${process.platform}-${process.arch}: ` +
      'install Node.js 24 (.nvmrc) and put it first on PATH.',
  );
  process.exit(1);
}
