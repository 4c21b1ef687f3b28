# `make chat-demo` (README, "Chat and tokenizer"): sourced by tests/run.sh
# (uses its B, T and run). A short run through a pipe: the random-weight
# World-vocabulary model is built, says it is random, and answers a message.
echo "== make chat-demo"
run "make chat-demo: a random World-vocabulary model answers through a pipe" bash -c \
    "printf 'Hello!\n' | make -s --no-print-directory BUILD=$B chat-demo CHAT_DEMO_FLAGS='-n 8 --seed 1' \
         > $T/chat_demo.out 2> $T/chat_demo.err \
     && grep -q '^Assistant:' $T/chat_demo.out && grep -q 'RANDOM weights' $T/chat_demo.err \
     && [ -f $B/chat-demo-random.gguf ] && [ ! -f $B/chat-demo-random.safetensors ]"
