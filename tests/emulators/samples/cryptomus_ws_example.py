# From the Cryptomus WebSocket page, shared/seeds/002 (and 003), section "Example
# implementation", the Python tab. Verbatim apart from this note, the page's line numbers
# (removed) and the indentation (restored; the page's text lost it).
# To run it against `papertrade serve cryptomus`, change one line, the host:
#     wss://api-ws.cryptomus.com/ws  ->  ws://127.0.0.1:PORT/ws
# The page's placeholder token, your_auth_token_here, connects unless the emulator is strict.
import asyncio
import websockets
import json

class CryptomusWebSocket:
    def __init__(self, token):
        self.token = token
        self.socket = None

    async def connect(self):
        self.socket = await websockets.connect(f"wss://api-ws.cryptomus.com/ws?token={self.token}")
        print('Connected to Cryptomus WebSocket')

    async def ping(self):
        await self.socket.send(json.dumps({
            "id": 0,
            "method": "ping",
            "params": []
        }))

    async def start_ping(self):
        while True:
            await asyncio.sleep(50) # Every 50 seconds
            await self.ping()

    async def listen(self):
        async for message in self.socket:
            print(f"Received: {message}")

    async def run(self):
        await self.connect()

        # Start ping task
        ping_task = asyncio.create_task(self.start_ping())

        # Listen for messages
        await self.listen()

# Usage
token = "your_auth_token_here"
client = CryptomusWebSocket(token)
asyncio.run(client.run())
