'use strict';
// Engine.IO v4 or Socket.IO v4 echo server.
//
//   --mode engine.io : plain engine.io Server at /engine.io/; every message
//                      packet is sent back unchanged.
//   --mode socket.io : socket.io Server at /socket.io/ (default namespace);
//                      an event that asks for an ack is answered through the
//                      ack with the same arguments, any other event is emitted
//                      back with the same name and arguments.
//
// Both send a ping packet every --ping-interval seconds and close a client
// whose pong has not come --ping-timeout seconds later ("ping timeout").
// WebSocket-only clients connect with ?EIO=4&transport=websocket.
//
// Usage: node engineio_server.js [--port 0] [--mode engine.io]
//                                [--ping-interval 25] [--ping-timeout 20]
// Events (JSON lines): connect, message, close (with the server's reason).

const http = require('http');
const { parseArgs, logEvent, announceListening, exitOnSignals, ms } = require('./common');

const args = parseArgs({ port: 0, mode: 'engine.io', 'ping-interval': 25, 'ping-timeout': 20 });
exitOnSignals();

const options = {
  pingInterval: ms(args['ping-interval']),
  pingTimeout: ms(args['ping-timeout']),
};
const httpServer = http.createServer();
let nextId = 1;

if (args.mode === 'engine.io') {
  const engine = require('engine.io');
  const server = new engine.Server(options);
  server.attach(httpServer);
  server.on('connection', (socket) => {
    const id = nextId++;
    logEvent('connect', { client: id, sid: socket.id, transport: socket.transport.name });
    socket.on('message', (data) => {
      logEvent('message', { client: id, size: data.length });
      socket.send(data);
    });
    socket.on('close', (reason, description) => {
      logEvent('close', { client: id, sid: socket.id, reason, description: String(description || '') });
    });
  });
} else if (args.mode === 'socket.io') {
  const { Server } = require('socket.io');
  const io = new Server(httpServer, options);
  io.on('connection', (socket) => {
    const id = nextId++;
    // sid: the Engine.IO session id (from the open packet); socket_id: Socket.IO's own id.
    const ids = { client: id, sid: socket.conn.id, socket_id: socket.id };
    logEvent('connect', Object.assign({ transport: socket.conn.transport.name }, ids));
    socket.onAny((name, ...rest) => {
      const ack = rest.length > 0 && typeof rest[rest.length - 1] === 'function' ? rest.pop() : null;
      logEvent('message', Object.assign({ name, args: rest.length, ack: ack !== null }, ids));
      if (ack !== null) {
        ack(...rest);
      } else {
        socket.emit(name, ...rest);
      }
    });
    socket.on('disconnect', (reason, description) => {
      logEvent('close', Object.assign({ reason, description: String(description || '') }, ids));
    });
  });
} else {
  process.stderr.write(`--mode must be engine.io or socket.io, got ${JSON.stringify(args.mode)}\n`);
  process.exit(2);
}

httpServer.listen(args.port, '127.0.0.1', () => {
  announceListening(httpServer);
  logEvent('config', {
    server: args.mode,
    ping_interval: args['ping-interval'],
    ping_timeout: args['ping-timeout'],
  });
});
