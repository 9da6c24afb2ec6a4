"""Tee a provider stream your app already holds into a Newsroom topic.

    from openai import OpenAI
    from tee import tee

    stream = OpenAI().chat.completions.create(model="gpt-4o-mini", messages=[...], stream=True)
    for chunk in tee(stream, "chat:42"):           # yields every chunk unchanged, for your own use
        print(chunk.choices[0].delta.content or "", end="") if chunk.choices else None

Viewers of `chat:42` see the answer as it streams: `curl -N http://127.0.0.1:8080/v1/topics/chat:42/events`.

The chunks go to `POST /v1/topics/{topic}/events?format=…&more=true` as NDJSON (one chunk object per
line, in the order the SDK yielded them) from a background thread, so your loop never waits for the
hub: whatever arrived while the previous post was in flight goes in the next one. A last post without
`more` ends the stream (the hub completes it as the provider would). Works with any SDK object that has
`model_dump_json()` (openai, anthropic) or `to_json()`, and with plain dicts.
"""

import json
import queue
import threading

import httpx

_END = object()


def _line(chunk) -> bytes:
    if hasattr(chunk, "model_dump_json"):
        return chunk.model_dump_json(exclude_unset=True).encode()
    if hasattr(chunk, "to_json"):
        return json.dumps(json.loads(chunk.to_json()), separators=(",", ":")).encode()
    return json.dumps(chunk, separators=(",", ":")).encode()


def tee(stream, topic, *, format="openai-chat", hub="http://127.0.0.1:8080", token=None, timeout=10.0):
    """Yields `stream`'s chunks unchanged while publishing them to `topic` on the hub.

    `format` is the provider's stream format: `openai-chat`, `openai-responses`, `anthropic`, `gemini`,
    `ollama`. `token` is a hub token with `publish` on the topic (when the hub has auth on).
    """
    pending: "queue.Queue" = queue.Queue()
    headers = {"content-type": "application/x-ndjson"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    url = f"{hub.rstrip('/')}/v1/topics/{topic}/events"
    failure = []

    def post_all():
        with httpx.Client(timeout=timeout) as client:
            done = False
            while not done:
                lines = [pending.get()]
                while not pending.empty():
                    lines.append(pending.get_nowait())
                done = lines[-1] is _END
                body = b"\n".join(line for line in lines if line is not _END)
                params = {"format": format} if done else {"format": format, "more": "true"}
                if not body and not done:
                    continue
                try:
                    response = client.post(url, params=params, content=body, headers=headers)
                    response.raise_for_status()
                except httpx.HTTPError as error:  # the app's own stream goes on; report at the end
                    failure.append(error)

    poster = threading.Thread(target=post_all, daemon=True)
    poster.start()
    try:
        for chunk in stream:
            pending.put(_line(chunk))
            yield chunk
    finally:
        pending.put(_END)
        poster.join(timeout)
    if failure:
        raise RuntimeError(f"newsroom tee: {failure[0]}")
