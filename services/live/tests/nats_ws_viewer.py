"""A live viewer on NATS over websocket, as a browser or app would be: nats-py, not the
platform's Rust client. Driven by tests/websocket.rs, one JSON object per line on stdout.

    python3 nats_ws_viewer.py ws://127.0.0.1:8223 <match-id>

1. Connects over websocket with no credentials (the server makes it the subscribe-only
   `viewer`), subscribes to the match's subject, then prints {"ready": true}.
2. Prints each message it receives as {"received": <payload>} until it has one whose
   `seq` is the one the test writes on stdin (the test scores a ball, then says its seq).
3. Publishes a forged update on the match's subject and prints {"refused": <error>} when
   the server answers with a permissions violation, or {"published": true} if it does not.
4. Then, for each line `after <seq>` on stdin, asks the live service what it missed after
   that seq (the one request a viewer may send) and prints {"answer": <reply>}; stops at
   a line `quit` (or the end of stdin).

Needs `pip install nats-py aiohttp` (nats-py uses aiohttp for ws:// and does not declare it).
"""

import asyncio
import json
import sys

import nats


def say(**fields):
    print(json.dumps(fields), flush=True)


async def main(url, match_id):
    subject = f"live.v1.match.{match_id}.events"
    errors = asyncio.Queue()

    async def on_error(error):
        await errors.put(error)

    viewer = await nats.connect(
        url,
        error_cb=on_error,
        allow_reconnect=False,
        connect_timeout=10,
    )
    messages = await viewer.subscribe(subject)
    # The subscription is registered on the server once a round trip has completed.
    await viewer.flush(timeout=10)
    say(ready=True)

    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    want = int(line)
    while True:
        message = await messages.next_msg(timeout=20)
        update = json.loads(message.data)
        say(received=update)
        if update.get("seq") == want:
            break

    forged = {"match_id": match_id, "seq": want + 1, "event": {"type": "undo"}}
    await viewer.publish(subject, json.dumps(forged).encode())
    # The server answers a forbidden publish with -ERR; a flush round trip makes sure
    # that answer (if any) has arrived before looking for it.
    await viewer.flush(timeout=10)
    try:
        error = await asyncio.wait_for(errors.get(), timeout=5)
        say(refused=str(error))
    except asyncio.TimeoutError:
        say(published=True)

    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not line or line[0] != "after":
            break
        request = json.dumps({"after": int(line[1])}).encode()
        reply = await viewer.request(f"live.v1.match.{match_id}.replay", request, timeout=10)
        say(answer=json.loads(reply.data))
    await viewer.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
