#!/usr/bin/env bash
# Generates the Python stubs next to subscribe.py from the hub's .proto (the one source of truth).
set -euo pipefail
cd "$(dirname "$0")"
python3 -m grpc_tools.protoc -I ../../Sources/NewsroomProto/Protos \
    --python_out=. --grpc_python_out=. newsroom/v1/newsroom.proto
