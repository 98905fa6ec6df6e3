"""Talk to Sovereign Gateway with the official openai SDK, unchanged.

OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_API_KEY=sk-sov-... python examples/chat.py
"""

from openai import OpenAI

client = OpenAI()  # reads OPENAI_BASE_URL and OPENAI_API_KEY

reply = client.chat.completions.with_raw_response.create(
    model="smollm2",
    messages=[{"role": "user", "content": "What is the capital of Bavaria?"}],
    max_tokens=48,
)
completion = reply.parse()
print(completion.choices[0].message.content)
print(
    f"served in {reply.headers['x-sovereign-jurisdiction']} "
    f"at {reply.headers['x-sovereign-site']}, request {reply.headers['x-request-id']}"
)

print("streaming: ", end="", flush=True)
stream = client.chat.completions.create(
    model="smollm2",
    messages=[{"role": "user", "content": "Count from one to five in German."}],
    max_tokens=48,
    stream=True,
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print()
