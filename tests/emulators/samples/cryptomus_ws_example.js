// From the Cryptomus WebSocket page, shared/seeds/002 (and 003), section "Example
// implementation", the Node.js tab. Verbatim apart from this note, the page's line numbers
// (removed) and the indentation (restored; the page's text lost it).
// The page's bug is kept here: line 6 puts a template string in single quotes, so
// ${this.token} is never filled in. The test fixes only that (single quotes to backticks), on
// the one line it also changes, the host:
//     'wss://api-ws.cryptomus.com/ws?token=${this.token}'  ->  `ws://127.0.0.1:PORT/ws?token=${this.token}`
// The page's placeholder token, your_auth_token_here, connects unless the emulator is strict.
const WebSocket = require('ws');

class CryptomusWebSocket {
  constructor(token) {
    this.token = token;
    this.socket = new WebSocket('wss://api-ws.cryptomus.com/ws?token=${this.token}');
    this.setupConnection();
  }

  setupConnection() {
    this.socket.on('open', () => {
      console.log('Connected to Cryptomus WebSocket');
      this.startPing();
    });

    this.socket.on('message', (data) => {
      console.log('Received:', data.toString());
    });
  }

  ping() {
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({
        id: 0,
        method: "ping",
        params: []
      }));
    }
  }

  startPing() {
    setInterval(() => {
      this.ping();
    }, 50 * 1000); // Every 50 seconds
  }
}

// Usage
const token = "your_auth_token_here";
const client = new CryptomusWebSocket(token);
