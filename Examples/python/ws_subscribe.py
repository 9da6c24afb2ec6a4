"""Prints a Newsroom topic's answer as it streams, over WebSocket (websockets), resuming after a dropped
connection with ?after=<last seq>.

Usage: python ws_subscribe.py TOPIC [WS_BASE_URL]"""
import json
import random
import sys
import time

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def follow(topic, base="ws://127.0.0.1:8080"):
    last_seq, delay = 0, 0.5
    while True:
        try:
            with connect(f"{base}/v1/topics/{topic}/ws?after={last_seq}") as ws:
                for message in ws:
                    delay, event = 0.5, json.loads(message)
                    last_seq = event.get("seq") or last_seq  # heartbeats and notices have no seq
                    if event["type"] == "text_delta":
                        print(event["text"], end="", flush=True)
                    elif event["type"] == "error" and event["code"] == "resume_unavailable":
                        print("\n[history gone: starting over]", file=sys.stderr)
                    elif event["type"] == "stream_complete" or event.get("terminal"):
                        return print()
            if ws.close_code == 1000:
                return print()  # the stream ended (we already had its last event)
            raise ConnectionError(f"closed with {ws.close_code}")  # 1001 shutdown, 4008 too slow
        except (OSError, ConnectionClosed) as error:
            print(f"\n[{error.__class__.__name__}: resuming after seq {last_seq}]", file=sys.stderr)
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 10)


if __name__ == "__main__":
    follow(*sys.argv[1:3])
