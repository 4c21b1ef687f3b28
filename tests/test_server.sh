# rwkvx-server (issue 15): sourced by tests/run.sh (uses its B, T, run, ok, bad).
# The server runs on the World-vocabulary wide model of test_chat.sh, on a free
# port, with OMP_WAIT_POLICY=passive (the tests share the cores with it):
# - under ASan/UBSan: curl requests good and bad (each bad one must get its
#   status and an OpenAI error object, the server must stay up and answer),
#   silent and slow clients, a client that leaves mid-generation, the openai
#   npm client (tests/server/openai_client.mjs), and a clean exit (no leak);
# - optimized: the load test (tests/server/load.mjs, 16 clients x 20 requests).
echo "== rwkvx-server"
SRV_MODEL=$T/wide-world.gguf
[ -f "$SRV_MODEL" ] || { $B/make_wide_model "$T/wide.safetensors" &&
    $B/rwkvx-convert "$T/wide.safetensors" "$SRV_MODEL" --type q8_0 --vocab tests/fixtures/rwkv_vocab_v20230424.txt > "$T/convert.log" 2>&1; } ||
    bad "the server's test model"
NPM_DIR=$B/npm

# start_server LOG ARGS...: starts rwkvx-server ARGS in the background (SRV_PID, SRV_URL)
start_server() {
    local log=$1 i; shift
    OMP_WAIT_POLICY=passive "$@" > "$log" 2>&1 &
    SRV_PID=$!
    SRV_URL=
    for i in $(seq 300); do
        SRV_URL=$(grep -o 'http://[0-9.:]*' "$log" | head -1)
        [ -n "$SRV_URL" ] && return 0
        kill -0 $SRV_PID 2> /dev/null || break
        sleep 0.1
    done
    bad "rwkvx-server did not start: $(tail -3 "$log")"
    return 1
}
# stop_server NAME: SIGTERM, then it must exit 0 (under ASan: no leak, no error)
stop_server() {
    kill -TERM $SRV_PID 2> /dev/null
    if wait $SRV_PID; then ok; else bad "$1: rwkvx-server exit status $? $(grep -m3 -E 'ERROR|runtime error|leak' "$T/server.log")"; fi
}
# expect_http NAME STATUS [CODE] -- CURL_ARGS...: the status, and an OpenAI error object for >= 400
expect_http() {
    local name=$1 want=$2 code=
    shift 2
    if [ "$1" != -- ]; then code=$1; shift; fi
    shift
    local got
    got=$(curl -s -o "$T/http_body" -w '%{http_code}' --max-time 20 "$@")
    if [ "$got" != "$want" ]; then bad "$name: status $got, expected $want: $(head -c 300 "$T/http_body")"; return; fi
    if [ "$want" -ge 400 ] && ! python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["error"]
assert isinstance(e["message"], str) and e["message"] and isinstance(e["type"], str)
assert "param" in e and "code" in e
assert not sys.argv[2] or e["code"] == sys.argv[2], e["code"]
' "$T/http_body" "$code" 2> "$T/http_err"; then
        bad "$name: not an OpenAI error object: $(head -c 300 "$T/http_body") $(tail -1 "$T/http_err")"; return
    fi
    ok
}
json_field() { python3 -c 'import json, sys; v = json.load(sys.stdin)
for k in sys.argv[1:]: v = v[int(k) if isinstance(v, list) else k]
print(v)' "$@"; }

if start_server "$T/server.log" $B/rwkvx-server-asan -m "$SRV_MODEL" --port 0 --threads 2 --parallel 3 --api-key sekret \
        --max-context 256 --max-tokens 64 --max-body 64 --timeout 2 --max-connections 32; then
    U=$SRV_URL
    A=(-H "Authorization: Bearer sekret")
    J=(-H "Content-Type: application/json")
    CHAT='{"messages":[{"role":"user","content":"Hello"}],"max_tokens":8,"seed":5}'
    echo "-- good requests (curl)"
    expect_http "health" 200 -- $U/health
    expect_http "models" 200 -- "${A[@]}" $U/v1/models
    expect_http "chat" 200 -- "${A[@]}" "${J[@]}" -d "$CHAT" $U/v1/chat/completions
    cp "$T/http_body" "$T/chat_whole.json"
    run "chat: a chat.completion object with usage" test "$(json_field object < "$T/chat_whole.json")" = chat.completion \
        -a "$(json_field usage completion_tokens < "$T/chat_whole.json")" -ge 1
    curl -sN "${A[@]}" -d "${CHAT%\}},\"stream\":true}" $U/v1/chat/completions > "$T/chat_stream.txt"
    run "chat streamed (SSE): data events, [DONE], the same text as unstreamed" python3 -c '
import json, sys
events = [l[6:] for l in open(sys.argv[1]).read().split("\n\n") if l.startswith("data: ")]
assert events[-1] == "[DONE]", events[-1]
chunks = [json.loads(e) for e in events[:-1]]
assert all(c["object"] == "chat.completion.chunk" for c in chunks)
text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
whole = json.load(open(sys.argv[2]))
assert text == whole["choices"][0]["message"]["content"], (text, whole)
assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
' "$T/chat_stream.txt" "$T/chat_whole.json"
    expect_http "completion" 200 -- "${A[@]}" -d '{"prompt":"Once","max_tokens":4}' $U/v1/completions
    expect_http "completion, empty prompt" 200 -- "${A[@]}" -d '{"prompt":"","max_tokens":2}' $U/v1/completions
    expect_http "chat, null and array contents" 200 -- "${A[@]}" \
        -d '{"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]},{"role":"assistant","content":null},{"role":"user","content":"x"}],"max_tokens":2,"temperature":0,"stop":null}' \
        $U/v1/chat/completions

    echo "-- bad requests"
    expect_http "no API key" 401 invalid_api_key -- -d "$CHAT" $U/v1/chat/completions
    expect_http "wrong API key" 401 invalid_api_key -- -H "Authorization: Bearer wrong" -d "$CHAT" $U/v1/chat/completions
    expect_http "wrong key scheme" 401 invalid_api_key -- -H "Authorization: Basic sekret" $U/v1/models
    expect_http "unknown path" 404 not_found -- "${A[@]}" -d "$CHAT" $U/v1/chat/complete
    expect_http "root path" 404 not_found -- "${A[@]}" $U/
    expect_http "GET on chat" 405 -- "${A[@]}" $U/v1/chat/completions
    expect_http "DELETE on models" 405 -- "${A[@]}" -X DELETE $U/v1/models
    expect_http "PUT on completions" 405 -- "${A[@]}" -X PUT -d '{}' $U/v1/completions
    expect_http "POST on health" 405 -- -d '{}' $U/health
    expect_http "malformed JSON" 400 -- "${A[@]}" -d '{"messages": [' $U/v1/chat/completions
    expect_http "empty body" 400 -- "${A[@]}" -X POST $U/v1/chat/completions
    expect_http "not an object" 400 -- "${A[@]}" -d '[1,2]' $U/v1/chat/completions
    expect_http "text after the JSON" 400 -- "${A[@]}" -d '{"prompt":"a"} x' $U/v1/completions
    expect_http "messages a string" 400 -- "${A[@]}" -d '{"messages":"hi"}' $U/v1/chat/completions
    expect_http "no messages" 400 -- "${A[@]}" -d '{"messages":[]}' $U/v1/chat/completions
    expect_http "message without role" 400 -- "${A[@]}" -d '{"messages":[{"content":"x"}]}' $U/v1/chat/completions
    expect_http "unknown role" 400 -- "${A[@]}" -d '{"messages":[{"role":"tool","content":"x"}]}' $U/v1/chat/completions
    expect_http "content a number" 400 -- "${A[@]}" -d '{"messages":[{"role":"user","content":5}]}' $U/v1/chat/completions
    expect_http "image content" 400 -- "${A[@]}" -d '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}' $U/v1/chat/completions
    expect_http "max_tokens a string" 400 -- "${A[@]}" -d '{"prompt":"a","max_tokens":"10"}' $U/v1/completions
    expect_http "max_tokens fractional" 400 -- "${A[@]}" -d '{"prompt":"a","max_tokens":2.5}' $U/v1/completions
    expect_http "max_tokens 0" 400 -- "${A[@]}" -d '{"prompt":"a","max_tokens":0}' $U/v1/completions
    expect_http "max_tokens huge" 400 -- "${A[@]}" -d '{"prompt":"a","max_tokens":1e30}' $U/v1/completions
    expect_http "max_tokens 20 digits" 400 -- "${A[@]}" -d '{"prompt":"a","max_tokens":99999999999999999999}' $U/v1/completions
    expect_http "max_tokens over --max-tokens" 400 -- "${A[@]}" -d '{"prompt":"a","max_tokens":65}' $U/v1/completions
    expect_http "temperature a string" 400 -- "${A[@]}" -d '{"prompt":"a","temperature":"hot"}' $U/v1/completions
    expect_http "temperature 1e309" 400 -- "${A[@]}" -d '{"prompt":"a","temperature":1e309}' $U/v1/completions
    expect_http "top_p 2" 400 -- "${A[@]}" -d '{"prompt":"a","top_p":2}' $U/v1/completions
    expect_http "presence_penalty -3" 400 -- "${A[@]}" -d '{"prompt":"a","presence_penalty":-3}' $U/v1/completions
    expect_http "seed 1e300" 400 -- "${A[@]}" -d '{"prompt":"a","seed":1e300}' $U/v1/completions
    expect_http "stream a string" 400 -- "${A[@]}" -d '{"prompt":"a","stream":"yes"}' $U/v1/completions
    expect_http "stop a number" 400 -- "${A[@]}" -d '{"prompt":"a","stop":5}' $U/v1/completions
    expect_http "five stop strings" 400 -- "${A[@]}" -d '{"prompt":"a","stop":["a","b","c","d","e"]}' $U/v1/completions
    expect_http "empty stop string" 400 -- "${A[@]}" -d '{"prompt":"a","stop":""}' $U/v1/completions
    expect_http "n 2" 400 -- "${A[@]}" -d '{"prompt":"a","n":2}' $U/v1/completions
    expect_http "unknown field" 400 -- "${A[@]}" -d '{"prompt":"a","logit_bias":{}}' $U/v1/completions
    expect_http "unknown message field" 400 -- "${A[@]}" -d '{"messages":[{"role":"user","content":"x","tool_calls":[]}]}' $U/v1/chat/completions
    expect_http "prompt a number" 400 -- "${A[@]}" -d '{"prompt":7}' $U/v1/completions
    printf '{"prompt":"\xff\xfe bad"}' > "$T/bad_utf8.json"
    expect_http "invalid UTF-8" 400 -- "${A[@]}" --data-binary @"$T/bad_utf8.json" $U/v1/completions
    expect_http "lone surrogate" 400 -- "${A[@]}" -d '{"prompt":"\ud800"}' $U/v1/completions
    expect_http "nested too deeply" 400 -- "${A[@]}" -d "{\"prompt\":\"a\",\"user\":$(printf '[%.0s' $(seq 100))}" $U/v1/completions
    python3 -c 'print("{\"prompt\":\"" + "word " * 300 + "\"}")' > "$T/long_prompt.json"
    expect_http "prompt past --max-context" 400 context_length_exceeded -- "${A[@]}" --data-binary @"$T/long_prompt.json" $U/v1/completions
    expect_http "prompt + max_tokens past --max-context" 400 context_length_exceeded -- "${A[@]}" \
        -d "{\"prompt\":\"$(python3 -c 'print("word " * 200)')\",\"max_tokens\":64}" $U/v1/completions
    head -c 70000 /dev/zero | tr '\0' 'a' > "$T/big_body.txt"
    expect_http "body over --max-body" 413 request_too_large -- "${A[@]}" --data-binary @"$T/big_body.txt" $U/v1/completions
    expect_http "body over --max-body, chunked" 413 request_too_large -- "${A[@]}" -H "Transfer-Encoding: chunked" --data-binary @"$T/big_body.txt" $U/v1/completions
    got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 "${A[@]}" -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' 'b')" $U/v1/models)
    if [ "$got" = 431 ] || [ "$got" = 413 ]; then ok; else bad "a 40 KB header: status $got, expected 431"; fi

    echo "-- clients that are silent, slow or leave"
    exec 7<> /dev/tcp/127.0.0.1/${U##*:}                      # connects and says nothing
    exec 8<> /dev/tcp/127.0.0.1/${U##*:}; printf 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"pro' >&8
    expect_http "a request beside a silent and a half-sent one" 200 -- "${A[@]}" -d '{"prompt":"a","max_tokens":2}' $U/v1/completions
    run "idle connections closed after --timeout" bash -c 'timeout 10 cat <&7 > /dev/null && timeout 10 cat <&8 > /dev/null'
    exec 7>&- 8>&-
    curl -sN --max-time 1 "${A[@]}" -d '{"prompt":"a","max_tokens":64,"stream":true,"temperature":0}' $U/v1/completions > /dev/null
    curl -s --max-time 0.3 "${A[@]}" -d '{"prompt":"b","max_tokens":64}' $U/v1/completions > /dev/null
    run "a client that leaves frees its slot" bash -c "for i in \$(seq 50); do
        h=\$(curl -s $U/health); case \$h in *'\"slots_busy\":0,\"queued\":0,\"requests_alive\":0'*) exit 0;; esac; sleep 0.1; done; echo \$h; exit 1"
    expect_http "still answering after all that" 200 -- "${A[@]}" "${J[@]}" -d "$CHAT" $U/v1/chat/completions
    run "the same seed gives the same reply" cmp <(json_field choices 0 message content < "$T/http_body") <(json_field choices 0 message content < "$T/chat_whole.json")

    echo "-- the openai npm client"
    if mkdir -p "$NPM_DIR" && cp tests/server/package.json tests/server/package-lock.json tests/server/*.mjs "$NPM_DIR"/ &&
       { [ -d "$NPM_DIR/node_modules/openai" ] || (cd "$NPM_DIR" && npm ci --no-audit --no-fund > npm.log 2>&1); }; then
        run "openai client: chat and completions, streamed and not, errors" node "$NPM_DIR/openai_client.mjs" $U sekret
    else
        bad "npm ci of the openai client: $(tail -3 "$NPM_DIR/npm.log" 2>/dev/null)"
    fi
    stop_server "ASan/UBSan server"
fi

if start_server "$T/server_load.log" $B/rwkvx-server -m "$SRV_MODEL" --port 0 --threads 2 --parallel 8 --cache-mb 1; then
    run "load: 16 clients x 20 requests, streamed and not, with disconnects" node "$NPM_DIR/load.mjs" $SRV_URL $SRV_PID 16 20
    stop_server "optimized server"
fi
expect_error "server: no model" $B/rwkvx-server
expect_error "server: missing model file" $B/rwkvx-server -m "$T/missing.gguf"
expect_error "server: model without vocabulary" $B/rwkvx-server -m "$T/rwkv7-tiny.f16.gguf"
expect_error "server: bad port" $B/rwkvx-server -m "$SRV_MODEL" --port 70000
expect_error "server: bad --parallel" $B/rwkvx-server -m "$SRV_MODEL" --parallel 0
expect_error "server: bad host" $B/rwkvx-server -m "$SRV_MODEL" --host localhost.invalid
expect_error "server: unknown option" $B/rwkvx-server -m "$SRV_MODEL" --fast 1
