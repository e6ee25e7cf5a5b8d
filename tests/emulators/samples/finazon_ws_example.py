# From the Finazon WebSocket reference, shared/seeds/000, section "Usage" (run there as
# `python finazon_ws_example.py` after `pip install websocket-client rel`). Verbatim apart from
# this note and the indentation, which the page's text lost (Python needs it back).
# To run it against `papertrade serve finazon`, change one line, the host:
#     wss://ws.finazon.io/v1  ->  ws://127.0.0.1:PORT/v1
# The page's placeholder key, your_api_key, is accepted unless the emulator is strict.
import json
import rel
import websocket

dataset = 'kucoin'
tickers = ['BTC/USDT']
api_key = 'your_api_key'


def on_message(wsapp, message):
    print(f'Message: {message}')


def on_error(wsapp, error):
    print(f'Error: {error}')


def on_close(wsapp, close_status_code, close_msg):
    print('Connection is closed')


def on_open(wsapp):
    print('Connection is opened')
    subscribe(wsapp, dataset, tickers)


def subscribe(wsapp, dataset, tickers):
    sub_request = {
        'event': 'subscribe',
        'dataset': dataset,
        'tickers': tickers,
        'channel': 'bars',
        'frequency': '1s',
        'aggregation': '1m'
    }
    wsapp.send(json.dumps(sub_request))


if __name__ == '__main__':
    # Open ws connection
    ws = websocket.WebSocketApp(f'wss://ws.finazon.io/v1?apikey={api_key}',
                                on_open=on_open,
                                on_message=on_message,
                                on_error=on_error)
    # Start event loop
    ws.run_forever(
        # Set dispatcher to automatic reconnection, 5 second reconnect delay if connection closed unexpectedly
        dispatcher=rel, reconnect=5,
        # Sending ping with specified interval to prevent disconnecting
        ping_interval=30, ping_timeout=10,
    )
    # Handle Keyboard Interrupt event
    rel.signal(2, rel.abort)
    rel.dispatch()
