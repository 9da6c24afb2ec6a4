"""Prints a Newsroom topic's answer as it streams, over gRPC, resuming after a dropped connection.

Usage: python subscribe.py TOPIC [HOST:PORT]   (stubs: see README.md)"""
import random
import sys
import time

import grpc

from newsroom.v1 import newsroom_pb2 as pb, newsroom_pb2_grpc as rpc

RETRY = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL}


def follow(topic, target="127.0.0.1:8080"):
    last_seq, delay = 0, 0.5
    with grpc.insecure_channel(target) as channel:
        stub = rpc.NewsroomStub(channel)
        while True:
            try:
                for event in stub.Subscribe(pb.SubscribeRequest(topic=topic, after=last_seq)):
                    delay = 0.5
                    kind = event.WhichOneof("payload")
                    if kind == "text_delta":
                        print(event.text_delta.text, end="", flush=True)
                    elif kind == "error" and event.error.code == "resume_unavailable":
                        print("\n[history gone: starting over]", file=sys.stderr)
                    last_seq = event.seq or last_seq  # heartbeats, gaps and notices have no seq
                print()
                return  # the call ended OK: the answer is complete
            except grpc.RpcError as error:
                if error.code() not in RETRY:
                    raise
                print(f"\n[{error.code().name}: resuming after seq {last_seq}]", file=sys.stderr)
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 10)


if __name__ == "__main__":
    follow(*sys.argv[1:3])
