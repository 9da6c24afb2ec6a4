"""Prints a Newsroom topic's answer as it streams, over Server-Sent Events (httpx-sse), resuming after
a dropped connection with Last-Event-ID.

Usage: python sse_subscribe.py TOPIC [BASE_URL]"""
import json
import random
import sys
import time

import httpx
from httpx_sse import connect_sse


def follow(topic, base="http://127.0.0.1:8080"):
    last_id, delay = None, 0.5
    with httpx.Client(timeout=httpx.Timeout(10, read=60)) as client:  # heartbeats come every 15 s
        while True:
            try:
                headers = {"Last-Event-ID": last_id} if last_id else {}
                with connect_sse(client, "GET", f"{base}/v1/topics/{topic}/events", headers=headers) as source:
                    if source.response.status_code == 204:
                        return print()  # we already had the last event: the answer is complete
                    if source.response.status_code != 503:  # 503: a hub limit, worth retrying
                        source.response.raise_for_status()
                    for sse in (sse for sse in source.iter_sse() if sse.data):  # not the retry: block
                        delay, event = 0.5, json.loads(sse.data)
                        last_id = sse.id or last_id  # heartbeats and notices have no id
                        if event["type"] == "text_delta":
                            print(event["text"], end="", flush=True)
                        elif event["type"] == "error" and event["code"] == "resume_unavailable":
                            print("\n[history gone: starting over]", file=sys.stderr)
                        elif event["type"] == "stream_complete" or event.get("terminal"):
                            return print()
                raise httpx.RemoteProtocolError("the stream ended early")  # e.g. server_shutdown
            except httpx.TransportError as error:
                print(f"\n[{error.__class__.__name__}: resuming after {last_id}]", file=sys.stderr)
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 10)


if __name__ == "__main__":
    follow(*sys.argv[1:3])
