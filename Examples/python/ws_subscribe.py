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
                    if event["type"] == "error" and "seq" not in event:  # a notice about this connection
                        if event["code"] == "resume_unavailable":  # the hub lost our point: it replays what it has
                            print()
                            print(f"[the hub no longer has the events after {last_seq}: the answer starts again]",
                                  file=sys.stderr)
                            last_seq = 0
                        elif event["retryable"]:  # server_shutdown, slow_consumer…: resume from last_seq
                            raise ConnectionError(event["code"])
                        else:
                            sys.exit(f"[{event['code']}: {event['message']}]")
                        continue
                    last_seq = event.get("seq", last_seq)  # heartbeats have no seq either
                    if event["type"] == "text_delta":
                        print(event["text"], end="", flush=True)
                    elif event["type"] == "stream_complete" or event.get("terminal"):
                        return print()
            if ws.close_code == 1000:
                return print()  # the stream ended (we already had its last event)
            if ws.close_code in (1008, 4001, 4003):  # a bad request, a missing or refused token
                sys.exit(f"[closed with {ws.close_code}: {ws.close_reason}]")
            raise ConnectionError(f"closed with {ws.close_code}")  # 1001 shutdown, 4008 too slow
        except (OSError, ConnectionClosed) as error:
            print(f"\n[{error.__class__.__name__} {error}: resuming after seq {last_seq}]", file=sys.stderr)
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 10)


if __name__ == "__main__":
    follow(*sys.argv[1:3])
