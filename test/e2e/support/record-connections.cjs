/**
 * Preloaded with `node --require` into every Node process a command starts (NODE_OPTIONS): appends one JSON
 * line per outbound TCP connection attempt (before any DNS lookup, so a name is recorded as given) and per
 * listening server to the file in SITESYNC_CONNECTION_LOG. A test then proves which addresses the command
 * reached: those it serves itself, and those it was told to use.
 */
const fs = require('node:fs');
const net = require('node:net');

const logFile = process.env.SITESYNC_CONNECTION_LOG;

function record(entry) {
  if (logFile) fs.appendFileSync(logFile, JSON.stringify({ pid: process.pid, ...entry }) + '\n');
}

/** net.Socket#connect's arguments: normalized [options, cb] arrays, an options object, port/host, or a path. */
function target(args) {
  let first = args[0];
  if (Array.isArray(first)) first = first[0];
  if (first && typeof first === 'object') return { host: first.host, port: first.port, path: first.path };
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) return { host: typeof args[1] === 'string' ? args[1] : undefined, port: Number(first) };
  if (typeof first === 'string') return { path: first };
  return {};
}

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const t = target(args);
  record(t.path ? { kind: 'connect', path: String(t.path) } : { kind: 'connect', host: t.host === undefined ? 'localhost' : String(t.host), port: Number(t.port) });
  return connect.apply(this, args);
};

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  this.once('listening', () => {
    const address = this.address();
    if (address && typeof address === 'object') record({ kind: 'listen', host: address.address, port: address.port });
  });
  return listen.apply(this, args);
};
