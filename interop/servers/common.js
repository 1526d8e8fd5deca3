'use strict';
// Shared helpers for the interop servers: argv parsing and the stdout protocol.
//
// stdout protocol (read by tests/interop/conftest.py):
//   * exactly one line `LISTENING <port>` once the server accepts connections;
//   * then one JSON object per line per event, always with "event" (a string)
//     and "t" (seconds since the process started, a float).
// Anything else (library logs, warnings) goes to stderr.

const SPEC_ERROR = 2;

/**
 * Parse `--name value` pairs.  `spec` maps option name to its default value;
 * the type of the default decides the parsing (number or string).  Unknown
 * options and malformed values end the process with exit code 2.
 */
function parseArgs(spec, argv = process.argv.slice(2)) {
  const out = Object.assign({}, spec);
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    const name = flag.startsWith('--') ? flag.slice(2) : null;
    if (name === null || !(name in spec) || value === undefined) {
      process.stderr.write(`bad argument ${JSON.stringify(flag)}; options: ${Object.keys(spec).join(', ')}\n`);
      process.exit(SPEC_ERROR);
    }
    if (typeof spec[name] === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) {
        process.stderr.write(`--${name} needs a number >= 0, got ${JSON.stringify(value)}\n`);
        process.exit(SPEC_ERROR);
      }
      out[name] = n;
    } else {
      out[name] = value;
    }
  }
  return out;
}

/** Write one JSON event line to stdout. */
function logEvent(event, fields = {}) {
  const line = Object.assign({ event, t: process.uptime() }, fields);
  process.stdout.write(JSON.stringify(line) + '\n');
}

/** Announce readiness: the only non-JSON line on stdout. */
function announceListening(server) {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
}

/** Exit promptly and quietly on SIGTERM / SIGINT (the harness stops servers by PID). */
function exitOnSignals() {
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => process.exit(0));
  }
}

/** Seconds (float, from argv) to whole milliseconds (at least 1). */
function ms(seconds) {
  return Math.max(1, Math.round(seconds * 1000));
}

module.exports = { parseArgs, logEvent, announceListening, exitOnSignals, ms };
