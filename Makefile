# rwkvx: `make` builds everything into build/, `make test` runs every test.
CC      ?= cc
CXX     ?= c++
ARCH    ?= -march=native
CFLAGS  ?= -O2
OPENMP  ?= -fopenmp
STD      = -std=c99 -Wall -Wextra -pedantic -Werror -D_POSIX_C_SOURCE=200809L
SAN      = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
BUILD    = build

PROGRAMS = $(BUILD)/rwkvx-convert $(BUILD)/rwkvx-logits $(BUILD)/rwkvx-bench
TESTS    = $(BUILD)/test_model $(BUILD)/test_model_asan $(BUILD)/test_model_scalar \
           $(BUILD)/test_model_noomp $(BUILD)/test_corrupt_asan \
           $(BUILD)/rwkvx-convert-asan $(BUILD)/compile_c99 $(BUILD)/compile_cxx
EXAMPLES = $(BUILD)/embed

.PHONY: all test clean fuzz
all: $(PROGRAMS) $(EXAMPLES)

$(BUILD):
	mkdir -p $(BUILD)

# Tools
$(BUILD)/rwkvx-convert: tools/convert.c tools/cli.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) -o $@ $< -lm
$(BUILD)/rwkvx-logits: tools/logits.c tools/cli.h rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) $(OPENMP) -o $@ $< -lm
$(BUILD)/rwkvx-bench: tools/bench.c tools/cli.h rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) $(OPENMP) -o $@ $< -lm
$(BUILD)/embed: examples/embed.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) $(OPENMP) -I. -o $@ $< -lm

# Tests: the same test program built four ways
$(BUILD)/test_model: tests/test_model.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) $(OPENMP) -o $@ $< -lm
$(BUILD)/test_model_asan: tests/test_model.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(SAN) $(ARCH) -o $@ $< -lm
$(BUILD)/test_model_scalar: tests/test_model.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) -DRWKVX_NO_SIMD -DRWKVX_NO_MMAP $(OPENMP) -o $@ $< -lm
$(BUILD)/test_model_noomp: tests/test_model.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) -o $@ $< -lm
$(BUILD)/test_corrupt_asan: tests/test_corrupt.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(SAN) $(ARCH) -o $@ $< -lm
$(BUILD)/rwkvx-convert-asan: tools/convert.c tools/cli.h | $(BUILD)
	$(CC) $(STD) $(SAN) -o $@ $< -lm

# The header must compile as C99 (pedantic, warnings as errors) and as C++.
$(BUILD)/compile_c99: tests/compile.c rwkvx.h | $(BUILD)
	$(CC) -std=c99 -Wall -Wextra -pedantic -Werror $(ARCH) -o $@ $< -lm
	$(CC) -std=c99 -Wall -Wextra -pedantic -Werror -DRWKVX_STATIC -DRWKVX_NO_SIMD -c -o $@.o $<
$(BUILD)/compile_cxx: tests/compile.c rwkvx.h | $(BUILD)
	$(CXX) -x c++ -std=c++11 -Wall -Wextra -pedantic -Werror $(ARCH) $(OPENMP) -o $@ $< -lm

# Fuzzing (clang and libclang-rt-14-dev): `make fuzz` runs each target for
# FUZZ_SECONDS on its committed seed corpus and fuzz/TARGET.dict if there is
# one (new inputs go to $(BUILD)/corpus,
# crashers to fuzz/regressions/TARGET/); `make test` replays the corpora and
# every crasher kept in fuzz/regressions/ under ASan/UBSan without libFuzzer.
# Targets: the GGUF loader, state restore, the converter's .pth and
# .safetensors readers, both vocabulary parsers, the tokenizer (fuzz/*.c).
FUZZ_TARGETS = gguf state pth safetensors vocab tokenize json
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_DEPS    = rwkvx.h tools/convert.c tools/cli.h fuzz/fuzz_convert.h
$(BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_DEPS) | $(BUILD)
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(ARCH) -o $@ $< -lm
$(BUILD)/replay_%: fuzz/fuzz_%.c fuzz/replay.c $(FUZZ_DEPS) | $(BUILD)
	$(CC) $(STD) $(SAN) $(ARCH) -o $@ $< fuzz/replay.c -lm
fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)
	for t in $(FUZZ_TARGETS); do mkdir -p $(BUILD)/corpus/$$t fuzz/regressions/$$t; \
	  dict=; [ -f fuzz/$$t.dict ] && dict=-dict=fuzz/$$t.dict; \
	  $(BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=250000 -timeout=30 -print_final_stats=1 $$dict \
	    -artifact_prefix=fuzz/regressions/$$t/ $(BUILD)/corpus/$$t fuzz/corpus/$$t || exit 1; done

test: all $(TESTS) $(FUZZ_TARGETS:%=$(BUILD)/replay_%)
	BUILD=$(BUILD) bash tests/run.sh

clean:
	rm -rf $(BUILD)

# ---- Tokenizer, sampler and chat (issue 3) ----
CHAT_PROGRAMS = $(BUILD)/rwkvx-tokenize $(BUILD)/rwkvx-chat $(BUILD)/minimal
CHAT_TESTS    = $(BUILD)/test_tokenizer_asan $(BUILD)/test_sampler $(BUILD)/test_sampler_asan \
                $(BUILD)/test_chat_replay $(BUILD)/make_wide_model $(BUILD)/rwkvx-chat-asan
.PHONY: tokbench
all: $(CHAT_PROGRAMS)
test: $(CHAT_PROGRAMS) $(CHAT_TESTS)
$(BUILD)/rwkvx-tokenize: tools/tokenize.c tools/cli.h rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) -o $@ $< -lm
$(BUILD)/rwkvx-chat: tools/chat.c tools/cli.h rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) $(OPENMP) -o $@ $< -lm
$(BUILD)/rwkvx-chat-asan: tools/chat.c tools/cli.h rwkvx.h | $(BUILD)
	$(CC) $(STD) $(SAN) $(ARCH) -o $@ $< -lm
$(BUILD)/minimal: examples/minimal.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) $(OPENMP) -o $@ $< -lm
$(BUILD)/test_tokenizer_asan: tests/test_tokenizer.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(SAN) $(ARCH) -o $@ $< -lm
$(BUILD)/test_sampler: tests/test_sampler.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) -o $@ $< -lm
$(BUILD)/test_sampler_asan: tests/test_sampler.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(SAN) $(ARCH) -o $@ $< -lm
$(BUILD)/test_chat_replay: tests/test_chat_replay.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) -o $@ $< -lm
$(BUILD)/make_wide_model: tests/make_wide_model.c | $(BUILD)
	$(CC) $(STD) $(CFLAGS) -o $@ $< -lm
# Encoding speed of the World tokenizer on English text (not a test: a measurement)
tokbench: $(BUILD)/rwkvx-tokenize
	cat README.md docs/*.md | $(BUILD)/rwkvx-tokenize --vocab tests/fixtures/rwkv_vocab_v20230424.txt --bench

# ---- Hostile inputs (issue 6): the catalogue in docs/HOSTILE.md ----
test: $(BUILD)/test_truncate_asan
$(BUILD)/test_truncate_asan: tests/test_truncate.c tools/convert.c tools/cli.h | $(BUILD)
	$(CC) $(STD) $(SAN) -o $@ $< -lm

# ---- Passkey retrieval (issue 4): rwkvx-passkey and the demo models in models/ ----
# `make demo` runs the paper's passkey test on the two shipped byte-level demo
# models (tools/train/ made them) and writes the heatmaps shown in README.md:
# 1k to 64k tokens (4x the models' training length of 16k), about five
# minutes on 2 cores (two threads: 1.6x one thread at these lengths).
PASSKEY_GRID = --lengths 1k,2k,4k,8k,16k,32k,64k --depths 10 --seeds 5 --threads 2
.PHONY: demo
all: $(BUILD)/rwkvx-passkey
$(BUILD)/rwkvx-passkey: tools/passkey.c tools/cli.h rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) $(OPENMP) -o $@ $< -lm
demo: $(BUILD)/rwkvx-passkey
	$(BUILD)/rwkvx-passkey models/rwkvx-passkey.gguf $(PASSKEY_GRID) --svg docs/passkey-rwkvx.svg \
	    --title "RWKV-X demo model: 4 RWKV-7 + 2 sparse blocks, C=128"
	@echo
	$(BUILD)/rwkvx-passkey models/rwkv7-passkey.gguf $(PASSKEY_GRID) --svg docs/passkey-rwkv7.svg \
	    --title "RWKV-7 demo model: 6 RWKV-7 blocks, C=128"

# ---- Bounded K/V memory (issue 6, items 3 and 4): the opt-in limit and the soak test ----
# rwkvx-soak decodes a million tokens and reports speed and resident memory
# (tools/soak.c, docs/SOAK.md); make test runs only a short smoke run of it.
KV_TESTS = $(BUILD)/test_kv_limit $(BUILD)/test_kv_limit_asan
all: $(BUILD)/rwkvx-soak
test: $(KV_TESTS) $(BUILD)/rwkvx-soak
$(BUILD)/rwkvx-soak: tools/soak.c tools/cli.h rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) $(OPENMP) -o $@ $< -lm
$(BUILD)/test_kv_limit: tests/test_kv_limit.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) $(OPENMP) -o $@ $< -lm
$(BUILD)/test_kv_limit_asan: tests/test_kv_limit.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(SAN) $(ARCH) -o $@ $< -lm

# ---- Batched evaluation and the OpenAI-compatible server (issue 15) ----
test: $(BUILD)/test_batch $(BUILD)/test_batch_asan
$(BUILD)/test_batch: tests/test_batch.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) $(OPENMP) -o $@ $< -lm
$(BUILD)/test_batch_asan: tests/test_batch.c rwkvx.h | $(BUILD)
	$(CC) $(STD) $(SAN) $(ARCH) -o $@ $< -lm
$(BUILD)/fuzz_json $(BUILD)/replay_json: tools/json.h   # the server's JSON reader
# rwkvx-server needs libmicrohttpd (Debian: libmicrohttpd-dev): `make` builds it
# when the library is there, `make test` installs what the server and its tests
# need when it is missing (tests/server/need_deps.sh: apt-get, sudo when not
# root) or fails: the server tests are never skipped.
SERVER_LIBS = -lmicrohttpd -lpthread -lm
HAVE_MHD   := $(shell printf '\043include <microhttpd.h>\n' | $(CC) -E -x c - > /dev/null 2>&1 && echo yes)
ifeq ($(HAVE_MHD),yes)
all: $(BUILD)/rwkvx-server
endif
all: $(BUILD)/rwkvx-batch-bench
test: $(BUILD)/server-test-deps $(BUILD)/rwkvx-server $(BUILD)/rwkvx-server-asan
$(BUILD)/server-build-deps: tests/server/need_deps.sh | $(BUILD)
	bash tests/server/need_deps.sh build && touch $@
$(BUILD)/server-test-deps: tests/server/need_deps.sh | $(BUILD)
	bash tests/server/need_deps.sh test && touch $@
$(BUILD)/rwkvx-batch-bench: tools/batch_bench.c tools/cli.h rwkvx.h | $(BUILD)
	$(CC) $(STD) $(CFLAGS) $(ARCH) $(OPENMP) -o $@ $< -lm
$(BUILD)/rwkvx-server: tools/server.c tools/json.h tools/cli.h tools/world_chat.h rwkvx.h | $(BUILD) $(BUILD)/server-build-deps
	$(CC) $(STD) $(CFLAGS) $(ARCH) $(OPENMP) -o $@ $< $(SERVER_LIBS)
$(BUILD)/rwkvx-server-asan: tools/server.c tools/json.h tools/cli.h tools/world_chat.h rwkvx.h | $(BUILD) $(BUILD)/server-build-deps
	$(CC) $(STD) $(SAN) $(ARCH) -o $@ $< $(SERVER_LIBS)
$(BUILD)/rwkvx-chat $(BUILD)/rwkvx-chat-asan: tools/world_chat.h   # the chat format, shared with the server
