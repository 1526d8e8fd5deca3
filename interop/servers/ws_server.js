'use strict';
// Node `ws` echo server running the heartbeat pattern from the ws README
// ("How to detect and close broken connections"):
//   every --heartbeat-interval seconds, each client whose isAlive flag is
//   still false (no pong since the previous round) is terminate()d; every
//   other client gets isAlive = false and a ping.
// Text and binary messages are echoed back unchanged.
//
// Usage: node ws_server.js [--port 0] [--heartbeat-interval 30] [--per-message-deflate 0|1]
// Events (JSON lines): connect, message, ping, pong, terminate, close.

const http = require('http');
const { WebSocketServer } = require('ws');
const { parseArgs, logEvent, announceListening, exitOnSignals, ms } = require('./common');

const args = parseArgs({ port: 0, 'heartbeat-interval': 30, 'per-message-deflate': 0 });
exitOnSignals();

const httpServer = http.createServer((req, res) => {
  res.writeHead(426, { 'Content-Type': 'text/plain' });
  res.end('WebSocket only\n');
});
const wss = new WebSocketServer({
  server: httpServer,
  perMessageDeflate: args['per-message-deflate'] > 0,
});
let nextId = 1;

wss.on('connection', (ws, req) => {
  ws.id = nextId++;
  ws.isAlive = true;
  logEvent('connect', { client: ws.id, path: req.url, extensions: ws.extensions });
  ws.on('error', (err) => logEvent('error', { client: ws.id, message: String(err && err.message) }));
  ws.on('pong', (data) => {
    ws.isAlive = true;
    logEvent('pong', { client: ws.id, data: data.toString('latin1') });
  });
  ws.on('message', (data, isBinary) => {
    logEvent('message', { client: ws.id, binary: isBinary, size: data.length });
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code, reason) => {
    logEvent('close', { client: ws.id, code, reason: reason.toString() });
  });
});

const interval = setInterval(() => {
  for (const ws of wss.clients) {
    if (ws.isAlive === false) {
      logEvent('terminate', { client: ws.id, reason: 'no pong since the last heartbeat round' });
      ws.terminate();
      continue;
    }
    ws.isAlive = false;
    ws.ping();
    logEvent('ping', { client: ws.id });
  }
}, ms(args['heartbeat-interval']));

wss.on('close', () => clearInterval(interval));

httpServer.listen(args.port, '127.0.0.1', () => {
  announceListening(httpServer);
  logEvent('config', { server: 'ws', heartbeat_interval: args['heartbeat-interval'] });
});
