#!/usr/bin/env bash
# Instructions the gateway's own threads execute per relayed request, counted by valgrind's
# callgrind: the same count for the same binary and load whatever else the machine is doing,
# so two builds can be compared where timings on a shared machine swing by a third.
#
#   benches/instructions.sh [--form FORM] [REQUESTS] [CONCURRENCY] BINARY...
#   benches/instructions.sh --floor [--form FORM] [REQUESTS] [CONCURRENCY]
#
# Each binary serves an Anthropic account (a small fake upstream in Python) to one key with
# every limit switched on, warms up, then relays REQUESTS non-streaming requests (default 2000,
# CONCURRENCY 16 keep-alive connections) while callgrind counts. FORM is what is sent:
# `small` (default: a one-line Messages request), or a coding-agent conversation of about
# 10 kB with three tools and four tool round trips written as `messages` (Anthropic, relayed
# untranslated), `chat` or `responses` (both translated to the Anthropic account and back),
# or `to-chat` (the `messages` conversation translated to an OpenAI-compatible account that
# answers chat completions, as Claude Code on DeepSeek is); a translated form's count minus
# `messages`' is what translation costs. Only user
# space is counted: system calls and the kernel's network stack are not. Under callgrind the
# threads run one at a time and the usage writer commits smaller batches than it would at
# full speed, so the writer's share reads higher than in a real run.
#
# `--floor` counts the benchmark's bare relay (`benches/support/floor.rs`) instead, in front of
# the same fake, under the same load: what the gateway's count is compared with. It runs the
# benchmark binary, which `cargo bench --bench gateway --no-run` builds.
#
# Needs valgrind, python3 and curl (`apt-get install -y valgrind python3 curl`).
set -euo pipefail

requests=2000
concurrency=16
form=small
floor=
if [[ ${1:-} == --floor ]]; then floor=1; shift; fi
if [[ ${1:-} == --form ]]; then form=${2:?--form needs small, messages, chat or responses}; shift 2; fi
case $form in small | messages | chat | responses | to-chat) ;; *) echo "unknown form: $form" >&2; exit 2 ;; esac
if [[ ${1:-} =~ ^[0-9]+$ ]]; then requests=$1; shift; fi
if [[ ${1:-} =~ ^[0-9]+$ ]]; then concurrency=$1; shift; fi
if [[ -n $floor ]]; then
  bench=$(ls -t "$(dirname "$0")"/../target/release/deps/gateway-* 2>/dev/null | grep -v '\.d$' | head -1)
  [[ -n $bench ]] || { echo "needs the benchmark binary: cargo bench --bench gateway --no-run" >&2; exit 2; }
  set -- "$bench"
elif [[ $# -eq 0 ]]; then
  set -- "$(dirname "$0")/../target/release/aicarpool"
fi
for tool in valgrind callgrind_control callgrind_annotate python3 curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install -y valgrind python3 curl" >&2; exit 2; }
done

# Each count's dump is kept here, for `callgrind_annotate --inclusive=yes DUMP`.
dumps=$(realpath -m "$(dirname "$0")/../target/callgrind")
mkdir -p "$dumps"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cat >"$work/fake.py" <<'EOF'
import http.server, json, sys
MESSAGE = json.dumps({"id": "msg_01", "type": "message", "role": "assistant",
    "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "Hello, how can I help?"}],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 9, "cache_creation_input_tokens": 0,
              "cache_read_input_tokens": 0}}).encode()
CHAT = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000,
    "model": "deepseek-chat", "choices": [{"index": 0, "message": {"role": "assistant",
    "content": "Hello, how can I help?"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21,
              "prompt_tokens_details": {"cached_tokens": 0}}}).encode()
MODELS = json.dumps({"data": [{"id": "claude-sonnet-4-5", "type": "model"}],
                     "has_more": False}).encode()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def answer(self, body):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self): self.answer(MODELS)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.answer(CHAT if self.path.endswith("/chat/completions") else MESSAGE)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
EOF

cat >"$work/load.py" <<'EOF'
import http.client, json, sys, threading
port, key, total, conc, form = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                int(sys.argv[4]), sys.argv[5])
model = "claude-sonnet-4-5"
# The conversation: line breaks and quotes in its texts, as a real one has.
filler = ("The repository holds a Rust service with a router, a relay and a store;\n"
          "the change touches the relay's \"failover\" loop and its tests. ")
system = filler * 12
tools = [("read_file", "Reads a file."), ("write_file", "Writes a file whole."),
         ("run_command", "Runs a shell command.")]
schema = {"type": "object", "properties": {
    "path": {"type": "string", "description": "An absolute path to the file."},
    "content": {"type": "string", "description": "What to write, whole."}},
    "required": ["path"]}
turns = [(f"call_{t}", tools[t % 3][0], {"path": f"/work/src/file_{t}.rs"},
          f"step {t}: {filler}", filler * 6) for t in range(4)]
if form == "small":
    path = "/v1/messages"
    body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hello"}]}
elif form in ("messages", "to-chat"):
    path = "/v1/messages"
    messages = []
    for call, name, args, ask, result in turns:
        messages += [{"role": "user", "content": ask},
                     {"role": "assistant", "content": [
                         {"type": "tool_use", "id": call, "name": name, "input": args}]},
                     {"role": "user", "content": [
                         {"type": "tool_result", "tool_use_id": call, "content": result}]}]
    messages.append({"role": "user", "content": "Go on."})
    body = {"model": model, "max_tokens": 1024, "system": system, "messages": messages,
            "tools": [{"name": n, "description": d, "input_schema": schema} for n, d in tools]}
elif form == "chat":
    path = "/v1/chat/completions"
    messages = [{"role": "system", "content": system}]
    for call, name, args, ask, result in turns:
        messages += [{"role": "user", "content": ask},
                     {"role": "assistant", "content": None, "tool_calls": [
                         {"id": call, "type": "function",
                          "function": {"name": name, "arguments": json.dumps(args)}}]},
                     {"role": "tool", "tool_call_id": call, "content": result}]
    messages.append({"role": "user", "content": "Go on."})
    body = {"model": model, "max_tokens": 1024, "messages": messages,
            "tools": [{"type": "function", "function": {"name": n, "description": d,
                                                        "parameters": schema}}
                      for n, d in tools]}
else:
    path = "/v1/responses"
    items = []
    for call, name, args, ask, result in turns:
        items += [{"role": "user", "content": ask},
                  {"type": "function_call", "call_id": call, "name": name,
                   "arguments": json.dumps(args)},
                  {"type": "function_call_output", "call_id": call, "output": result}]
    items.append({"role": "user", "content": "Go on."})
    body = {"model": model, "max_output_tokens": 1024, "instructions": system, "input": items,
            "tools": [{"type": "function", "name": n, "description": d, "parameters": schema}
                      for n, d in tools]}
body = json.dumps(body)
headers = {"x-api-key": key, "authorization": f"Bearer {key}",
           "content-type": "application/json", "anthropic-version": "2023-06-01"}
failed = []
def run(n):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(n):
        conn.request("POST", path, body, headers)
        resp = conn.getresponse()
        answer = resp.read()
        if resp.status != 200:
            failed.append(f"{resp.status} {answer[:300]!r}")
threads = [threading.Thread(target=run, args=(total // conc,)) for _ in range(conc)]
for t in threads: t.start()
for t in threads: t.join()
if failed:
    sys.exit(f"{len(failed)} requests failed, e.g. {failed[0]}")
EOF

python3 "$work/fake.py" >"$work/fake.port" &
for _ in $(seq 50); do [[ -s $work/fake.port ]] && break; sleep 0.1; done
fake_port=$(cat "$work/fake.port")
per_run=$(( requests / concurrency * concurrency ))

for bin in "$@"; do
  data="$work/data-$RANDOM"
  if [[ -n $floor ]]; then
    mkdir -p "$data"
    valgrind --tool=callgrind --callgrind-out-file="$data/callgrind.out" \
      "$bin" --floor-for "127.0.0.1:$fake_port" >"$data/floor.port" 2>"$data/serve.log" &
    gateway=$!
    for _ in $(seq 120); do [[ -s $data/floor.port ]] && break; sleep 0.5; done
    port=$(cat "$data/floor.port")
    key=none
  else
    run() { "$bin" --data-dir "$data" "$@"; }
    run group create team >/dev/null
    platform=anthropic
    [[ $form == to-chat ]] && platform=openai
    echo sk-fake | run --json account create --name main --platform "$platform" \
      --base-url "http://127.0.0.1:$fake_port" --group team >/dev/null
    key=$(run --json key create --group team --name bench --requests 100000000 \
      --window-minutes 60 --concurrency 5000 --daily-tokens 100000000000 --daily-cost 1000000 \
      --weekly-cost 1000000 | python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    AICARPOOL_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$data/callgrind.out" \
      "$bin" --data-dir "$data" serve --listen "127.0.0.1:$port" 2>"$data/serve.log" &
    gateway=$!
  fi
  for _ in $(seq 120); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.5; done
  # A new account's model list, which a translated request is routed by, arrives after start.
  for _ in $(seq 120); do python3 "$work/load.py" "$port" "$key" 1 1 "$form" 2>/dev/null && break; sleep 0.5; done
  python3 "$work/load.py" "$port" "$key" 400 8 "$form" # warm: connections, caches, first rows
  sleep 1
  callgrind_control --zero "$gateway" >/dev/null 2>&1
  python3 "$work/load.py" "$port" "$key" "$per_run" "$concurrency" "$form"
  sleep 1 # the usage rows of the last requests are committed
  callgrind_control --dump "$gateway" >/dev/null 2>&1
  sleep 1
  kill "$gateway"
  wait "$gateway" 2>/dev/null || true
  dump=$(ls -t "$data"/callgrind.out.* | head -1)
  total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  name=$(basename "$bin")
  [[ -n $floor ]] && name=floor
  kept="$dumps/$name-$form-$(date +%H%M%S).callgrind"
  cp "$dump" "$kept"
  echo "$bin: $(( total / per_run )) instructions per request ($form, $per_run requests, $concurrency connections; $kept)"
done
