'use strict';
// sockjs-node echo server.  Framed WebSocket endpoint:
//   ws://127.0.0.1:<port>/<prefix>/<3 digits>/<session>/websocket
// sockjs-node sends an RFC 6455 ping on that socket every --heartbeat-delay
// seconds and closes the session with 3000 "No response from heartbeat" when
// the pong has not come 10 s (hard-coded in sockjs 0.3.x) after the ping.
//
// Usage: node sockjs_server.js [--port 0] [--prefix /echo]
//                              [--heartbeat-delay 25] [--disconnect-delay 5]
// Events (JSON lines): connect, message, close.  sockjs's own log -> stderr.

const http = require('http');
const sockjs = require('sockjs');
const { parseArgs, logEvent, announceListening, exitOnSignals, ms } = require('./common');

const args = parseArgs({ port: 0, prefix: '/echo', 'heartbeat-delay': 25, 'disconnect-delay': 5 });
exitOnSignals();

const echo = sockjs.createServer({
  heartbeat_delay: ms(args['heartbeat-delay']),
  disconnect_delay: ms(args['disconnect-delay']),
  log: (severity, line) => process.stderr.write(`sockjs ${severity}: ${line}\n`),
});
let nextId = 1;

echo.on('connection', (conn) => {
  const id = nextId++;
  logEvent('connect', { client: id, session: conn.id, protocol: conn.protocol, path: conn.url });
  conn.on('data', (message) => {
    logEvent('message', { client: id, size: message.length });
    conn.write(message);
  });
  conn.on('close', () => logEvent('close', { client: id, session: conn.id }));
});

const httpServer = http.createServer();
echo.installHandlers(httpServer, { prefix: args.prefix });
httpServer.listen(args.port, '127.0.0.1', () => {
  announceListening(httpServer);
  logEvent('config', {
    server: 'sockjs',
    prefix: args.prefix,
    heartbeat_delay: args['heartbeat-delay'],
    disconnect_delay: args['disconnect-delay'],
  });
});
