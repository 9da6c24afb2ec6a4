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
                    if source.response.status_code < 500:  # 5xx: a hub limit or a proxy, worth retrying
                        source.response.raise_for_status()
                    for sse in (sse for sse in source.iter_sse() if sse.data):  # not the retry: block
                        delay, event = 0.5, json.loads(sse.data)
                        if event["type"] == "error" and "seq" not in event:  # a notice about this connection
                            if event["code"] == "resume_unavailable":  # the hub lost our point: it replays what it has
                                print()
                                print(f"[the hub no longer has the events after {last_id}: the answer starts again]",
                                      file=sys.stderr)
                                last_id = None
                            elif event["retryable"]:  # server_shutdown, slow_consumer…: resume from last_id
                                raise httpx.RemoteProtocolError(event["code"])
                            else:
                                sys.exit(f"[{event['code']}: {event['message']}]")
                            continue
                        last_id = sse.id or last_id  # the seq; heartbeats have no id either
                        if event["type"] == "text_delta":
                            print(event["text"], end="", flush=True)
                        elif event["type"] == "stream_complete" or event.get("terminal"):
                            return print()
                raise httpx.RemoteProtocolError("the stream ended early")
            except httpx.TransportError as error:
                print(f"\n[{error.__class__.__name__} {error}: resuming after {last_id}]", file=sys.stderr)
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 10)


if __name__ == "__main__":
    follow(*sys.argv[1:3])
