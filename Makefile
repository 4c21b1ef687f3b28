# rwkvx: `make` builds the tools and examples into build/; `make check` is the
# quick tier for development (about a minute); `make test` is the complete
# suite that CI runs. README.md ("Building and testing") says what each covers.
#
# Adding a program: tools/NAME.c is built as build/rwkvx-NAME and examples/NAME.c
# as build/NAME, with no edit here (extra libraries: one line such as
# `$(BUILD)/rwkvx-NAME: LDLIBS += -lfoo`). A test program tests/NAME.c is
# built by naming it in TEST_PROGRAMS, plain or as a variant: NAME_asan
# (ASan/UBSan), NAME_scalar (no SIMD, no mmap), NAME_noomp (no OpenMP),
# NAME_avx2 (x86-64: the AVX2 kernels, also on an AVX-512 machine). A program
# includes rwkvx.h (or rwkvx_convert.h) for the API and is linked with the
# implementation, compiled once per variant into build/lib/; one that defines
# RWKVX_IMPLEMENTATION itself, to test the internals, is compiled whole.
CC      ?= cc
CXX     ?= c++
ARCH    ?= -march=native
CFLAGS  ?= -O2
OPENMP  ?= -fopenmp
LDLIBS  ?= -lm
# A user's build never stops on a warning (a newer compiler may add one); the
# project's checks (make check, make test, .ci/run) add -Werror.
WERROR  ?=
STD      = -std=c99 -Wall -Wextra -pedantic -D_POSIX_C_SOURCE=200809L $(WERROR)
# -g1: line tables for ASan's reports at the compile cost of no -g (full -g
# costs 40 % more compile time, and there are 20 of these programs)
SAN      = -O1 -g1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
DEPFLAGS = -MMD -MP
BUILD    = build

TOOLS    = $(patsubst tools/%.c,$(BUILD)/rwkvx-%,$(wildcard tools/*.c))
EXAMPLES = $(patsubst examples/%.c,$(BUILD)/%,$(wildcard examples/*.c))
# rwkvx-server needs libmicrohttpd (Debian: libmicrohttpd-dev): `make` builds it
# where the library is installed; `make test` installs it when missing.
HAVE_MHD := $(shell printf '\043include <microhttpd.h>\n' | $(CC) -E -x c - > /dev/null 2>&1 && echo yes)
TOOLS    := $(if $(HAVE_MHD),$(TOOLS),$(filter-out $(BUILD)/rwkvx-server,$(TOOLS)))

# What the test scripts run (tests/run.sh), besides the tools and examples
TEST_PROGRAMS = test_model test_model_scalar test_model_noomp test_model_asan \
                test_corrupt_asan test_truncate_asan \
                test_tokenizer_asan test_sampler_asan test_chat_replay make_wide_model \
                test_api_asan \
                rwkvx-convert-asan rwkvx-chat-asan test_convert_api_asan cmpf32 \
                test_internals test_internals_asan test_internals_scalar
# The quick tier's subset, and the golden-logit tests alone (every build of test_model)
CHECK_PROGRAMS  = test_model test_internals compile_c99 compile_cxx cmpf32
GOLDEN_PROGRAMS = test_model test_model_scalar test_model_noomp test_model_asan
ifeq ($(shell uname -m),x86_64)
TEST_PROGRAMS   += test_model_avx2 test_internals_avx2
GOLDEN_PROGRAMS += test_model_avx2
endif

FUZZ_TARGETS = gguf state pth safetensors vocab tokenize hfconfig json

.PHONY: all check check-golden test check-arm64 compilers fuzz tokbench demo chat-demo clean
all: $(TOOLS) $(EXAMPLES)

$(BUILD):
	mkdir -p $(BUILD)

# ---- Programs: tools, examples, test programs and their variants ----
# The header's implementation is most of a program's compile time (about 14 s
# at -O2, 3 s for the program around it), so each build of it is compiled
# once, into $(LIB)/rwkvx-FLAVOUR.o (rwkvx_convert.h's, which contains
# rwkvx.h's, into $(LIB)/rwkvx_convert-FLAVOUR.o), and linked by every program
# of that flavour. A program that defines RWKVX_IMPLEMENTATION (or
# RWKVX_CONVERT_IMPLEMENTATION) itself, to reach the internals or to replace
# the allocator, is compiled whole and links neither; one that includes
# rwkvx_convert.h (or fuzz/fuzz_convert.h) links the converter's object. -MMD
# records what each file includes, so only what a change reaches is rebuilt.
FLAVOURS      = native asan scalar noomp avx2
FLAGS_native  = $(CFLAGS) $(ARCH) $(OPENMP)
# (the ASan/UBSan and fuzz builds of the converter also hold its testing
# entry points, RWKVX_CONVERT_TESTING: the fuzz targets and test_truncate)
FLAGS_asan    = $(SAN) $(ARCH) -DRWKVX_CONVERT_TESTING
FLAGS_scalar  = $(CFLAGS) -DRWKVX_NO_SIMD -DRWKVX_NO_MMAP $(OPENMP)
FLAGS_noomp   = $(CFLAGS) $(ARCH)
FLAGS_avx2    = $(CFLAGS) -march=x86-64-v3 $(OPENMP)
LIB           = $(BUILD)/lib
PROGRAM_SOURCES := $(wildcard tools/*.c tests/*.c examples/*.c fuzz/fuzz_*.c)
WHOLE     := $(basename $(notdir $(shell grep -l -E '^\#define RWKVX_(CONVERT_)?IMPLEMENTATION' $(PROGRAM_SOURCES))))
CONVERTER := $(basename $(notdir $(shell grep -l -E '^\#include "(\.\./)?(rwkvx_convert|fuzz_convert)\.h"' $(PROGRAM_SOURCES))))
NO_HEADER := $(basename $(notdir $(shell grep -L -E '^\#include "(\.\./)?(rwkvx|rwkvx_convert|fuzz_convert)\.h"' $(PROGRAM_SOURCES))))
# $(call lib,NAME,FLAVOUR): the object program NAME (its source's stem) links,
# if any. The ASan/UBSan programs all link the converter's object, which holds
# the library too: one 35-second compile instead of two.
lib = $(if $(filter $(WHOLE) $(NO_HEADER),$1),,$(LIB)/$(if $(filter $(CONVERTER),$1)$(filter asan,$2),rwkvx_convert,rwkvx)-$2.o)

# (kept: make deletes a pattern rule's intermediate files unless .PRECIOUS
# names the rule's own target pattern)
.PRECIOUS: $(LIB)/rwkvx-%.o $(LIB)/rwkvx_convert-%.o $(LIB)/fuzz-%.o $(LIB)/%.c
$(LIB):
	mkdir -p $(LIB)
# the implementation's translation unit: RWKVX_IMPLEMENTATION and the header
# (written here: the header as the main file would make clang warn about every
# unused static inline kernel of the instruction set)
$(LIB)/%.c: | $(LIB)
	printf '#define %s_IMPLEMENTATION\n#include "%s.h"\n' $(if $(filter rwkvx,$*),RWKVX,RWKVX_CONVERT) $* > $@
$(LIB)/rwkvx-%.o: $(LIB)/rwkvx.c rwkvx.h
	$(CC) $(STD) $(DEPFLAGS) $(FLAGS_$*) -I. -c -o $@ $<
$(LIB)/rwkvx_convert-%.o: $(LIB)/rwkvx_convert.c rwkvx_convert.h rwkvx.h
	$(CC) $(STD) $(DEPFLAGS) $(FLAGS_$*) -I. -c -o $@ $<

# $(BUILD_C) FLAGS: the program from its source (the first prerequisite) and its object
BUILD_C   = $(CC) $(STD) $(DEPFLAGS) -o $@ $< $(filter %.o,$^)
OPTIMISED = $(FLAGS_native)

.SECONDEXPANSION:
$(BUILD)/rwkvx-%: tools/%.c $$(call lib,$$*,native) | $(BUILD)
	$(BUILD_C) $(OPTIMISED) $(LDLIBS)
$(BUILD)/rwkvx-%-asan: tools/%.c $$(call lib,$$*,asan) | $(BUILD)
	$(BUILD_C) $(FLAGS_asan) $(LDLIBS)
$(BUILD)/%: examples/%.c $$(call lib,$$*,native) | $(BUILD)
	$(BUILD_C) -I. $(OPTIMISED) $(LDLIBS)
$(BUILD)/%: tests/%.c $$(call lib,$$*,native) | $(BUILD)
	$(BUILD_C) $(OPTIMISED) $(LDLIBS)
# the variants of a test program: NAME_FLAVOUR
define variant
$$(BUILD)/%_$(1): tests/%.c $$$$(call lib,$$$$*,$(1)) | $$(BUILD)
	$$(BUILD_C) $$(FLAGS_$(1)) $$(LDLIBS)
endef
$(foreach f,$(filter-out native,$(FLAVOURS)),$(eval $(call variant,$(f))))

# The header as a program's only translation unit: C99 (also with RWKVX_STATIC
# and the scalar kernels) and C++11, always with -Werror.
$(BUILD)/compile_c99: tests/compile.c | $(BUILD)
	$(CC) -std=c99 -Wall -Wextra -pedantic -Werror $(DEPFLAGS) $(ARCH) -o $@ $< $(LDLIBS)
	$(CC) -std=c99 -Wall -Wextra -pedantic -Werror -DRWKVX_STATIC -DRWKVX_NO_SIMD -c -o $@.o $<
$(BUILD)/compile_cxx: tests/compile.c | $(BUILD)
	$(CXX) -x c++ -std=c++11 -Wall -Wextra -pedantic -Werror $(DEPFLAGS) $(ARCH) $(OPENMP) -o $@ $< $(LDLIBS)

-include $(wildcard $(BUILD)/*.d $(LIB)/*.d)

# ---- Test tiers ----
# make check and make test build what they run JOBS at a time unless make was
# given -j itself.
JOBS ?= $(shell nproc 2> /dev/null || echo 2)
# The tiers build with -Werror (target-specific, so it reaches what they build).
check check-programs check-golden test test-programs: WERROR = -Werror
check:
	$(MAKE) $(if $(filter -j%,$(MAKEFLAGS)),,-j$(JOBS)) check-programs
	BUILD=$(BUILD) bash tests/run.sh quick
.PHONY: check-programs
check-programs: $(BUILD)/rwkvx-convert $(BUILD)/rwkvx-logits $(CHECK_PROGRAMS:%=$(BUILD)/%)
check-golden: $(BUILD)/rwkvx-convert $(GOLDEN_PROGRAMS:%=$(BUILD)/%)
	BUILD=$(BUILD) bash tests/run.sh golden
# make test builds what it runs (test-programs) JOBS at a time unless make was
# given -j itself: the build is most of the suite's CPU time (the ASan/UBSan
# programs take about 30 s of CPU each). A program the suite needs is added
# with `test-programs: $(BUILD)/NAME`.
.PHONY: test-programs
test-programs: all $(TEST_PROGRAMS:%=$(BUILD)/%) $(FUZZ_TARGETS:%=$(BUILD)/replay_%)
test:
	$(MAKE) $(if $(filter -j%,$(MAKEFLAGS)),,-j$(JOBS)) test-programs
	BUILD=$(BUILD) ARM64_RUN="$(if $(HAVE_ARM64),$(ARM64_RUN))" bash tests/run.sh

# The header warning-free on every compiler at hand, at every optimisation
# level, as C99 and C++11, with and without -march=native, OpenMP and SIMD
# (tests/compilers.sh; make test runs its --quick subset).
compilers:
	bash tests/compilers.sh

clean:
	rm -rf $(BUILD)

# ---- Fuzzing (clang and libclang-rt-14-dev) ----
# `make fuzz` runs each target for FUZZ_SECONDS on its committed seed corpus and
# fuzz/TARGET.dict if there is one (new inputs go to $(BUILD)/corpus, crashers
# to fuzz/regressions/TARGET/); `make test` replays the corpora and every
# crasher kept in fuzz/regressions/ under ASan/UBSan without libFuzzer.
# Targets: the GGUF loader, state restore, the converter's .pth and
# .safetensors readers, both vocabulary parsers, the tokenizer (fuzz/*.c).
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
# The fuzz targets get the portable kernels: they test the parsers, and with
# the SIMD kernels' unrolled loops under libFuzzer's coverage instrumentation
# clang 14 took 9 minutes to compile each target (25 s this way).
FLAGS_fuzz = -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -DRWKVX_NO_SIMD -DRWKVX_CONVERT_TESTING
$(LIB)/fuzz-%.o: $(LIB)/%.c %.h
	$(FUZZ_CC) $(FLAGS_fuzz) -fsanitize=fuzzer-no-link $(DEPFLAGS) -I. -c -o $@ $<
$(BUILD)/fuzz_%: fuzz/fuzz_%.c $$(subst $$(LIB)/,$$(LIB)/fuzz-,$$(subst -asan.o,.o,$$(call lib,fuzz_$$*,asan))) | $(BUILD)
	$(FUZZ_CC) $(FLAGS_fuzz) -fsanitize=fuzzer $(DEPFLAGS) -o $@ $< $(filter %.o,$^) $(LDLIBS)
$(BUILD)/replay_%: fuzz/fuzz_%.c fuzz/replay.c $$(call lib,fuzz_$$*,asan) | $(BUILD)
	$(CC) $(STD) $(SAN) $(DEPFLAGS) $(ARCH) -o $@ $< fuzz/replay.c $(filter %.o,$^) $(LDLIBS)
fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)
	for t in $(FUZZ_TARGETS); do mkdir -p $(BUILD)/corpus/$$t fuzz/regressions/$$t; \
	  dict=; [ -f fuzz/$$t.dict ] && dict=-dict=fuzz/$$t.dict; \
	  $(BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=250000 -timeout=30 -print_final_stats=1 $$dict \
	    -artifact_prefix=fuzz/regressions/$$t/ $(BUILD)/corpus/$$t fuzz/corpus/$$t || exit 1; done

# ---- Other CPUs: the NEON kernels, cross-compiled and run under qemu-user ----
# Needs gcc-aarch64-linux-gnu and qemu-user. make check-arm64 runs every
# golden-logit case, mode and weight type (the fixtures converted by the
# host's rwkvx-convert); make test, when both tools are installed, runs the
# same on the shortest RWKV-X case (its RWKV-7 and sparse blocks: every NEON
# kernel; qemu is ~100x slower).
ARM64_CC   ?= aarch64-linux-gnu-gcc
ARM64_RUN  ?= qemu-aarch64 -L /usr/aarch64-linux-gnu
ARM64      = $(BUILD)/arm64
HAVE_ARM64 := $(shell command -v $(ARM64_CC) > /dev/null && command -v $(firstword $(ARM64_RUN)) > /dev/null && echo yes)
test-programs: $(if $(HAVE_ARM64),$(ARM64)/test_model $(ARM64)/test_internals)
$(ARM64)/rwkvx.o: $(LIB)/rwkvx.c rwkvx.h
	mkdir -p $(ARM64)
	$(ARM64_CC) $(STD) -Werror $(DEPFLAGS) -O2 $(OPENMP) -I. -c -o $@ $<
$(ARM64)/test_model: tests/test_model.c $(ARM64)/rwkvx.o | $(BUILD)
	$(ARM64_CC) $(STD) -Werror $(DEPFLAGS) -O2 $(OPENMP) -o $@ $< $(ARM64)/rwkvx.o $(LDLIBS)
$(ARM64)/test_internals: tests/test_internals.c | $(BUILD)
	mkdir -p $(ARM64)
	$(ARM64_CC) $(STD) -Werror $(DEPFLAGS) -O2 $(OPENMP) -o $@ $< $(LDLIBS)
check-arm64: $(BUILD)/rwkvx-convert $(ARM64)/test_model $(ARM64)/test_internals
	BUILD=$(BUILD) ARM64_RUN="$(ARM64_RUN)" bash tests/run.sh arm64
-include $(wildcard $(ARM64)/*.d)

# ---- Measurements and demonstrations (not tests) ----
# Encoding speed of the World tokenizer on English text
tokbench: $(BUILD)/rwkvx-tokenize
	cat README.md docs/*.md | $(BUILD)/rwkvx-tokenize --vocab tests/fixtures/rwkv_vocab_v20230424.txt --bench

# `make demo` runs the paper's passkey test on the two shipped byte-level demo
# models (tools/train/ made them): 1k to 64k tokens, 11 depths (0, 10, ..
# 100%) x the reference's 5 keys, tables on stdout and heatmaps in build/
# (about 5 minutes on 2 cores). `make demo-full` is the grid of the README's
# table and heatmaps (docs/passkey-*.svg): 21 depths (0, 5, .. 100%) x 10 keys
# (about 20 minutes on 2 cores). Prompts run side by side, one per thread.
PASSKEY_LENGTHS = --lengths 1k,2k,4k,8k,16k,32k,64k
PASSKEY_GRID = $(PASSKEY_LENGTHS) --depths 11 --seeds 5 --threads 2
PASSKEY_GRID_FULL = $(PASSKEY_LENGTHS) --depths 21 --seeds 10 --threads 2
.PHONY: demo-full
# $(call passkey_demo,GRID,SVG-DIR): both models, a table each, heatmaps in SVG-DIR, answers in build/
define passkey_demo
	$(BUILD)/rwkvx-passkey models/rwkvx-passkey.gguf $(1) --svg $(2)/passkey-rwkvx.svg --csv $(BUILD)/passkey-rwkvx.csv \
	    --title "RWKV-X demo model: 4 RWKV-7 + 2 sparse blocks, C=128"
	@echo
	$(BUILD)/rwkvx-passkey models/rwkv7-passkey.gguf $(1) --svg $(2)/passkey-rwkv7.svg --csv $(BUILD)/passkey-rwkv7.csv \
	    --title "RWKV-7 demo model: 6 RWKV-7 blocks, C=128"
endef
demo: $(BUILD)/rwkvx-passkey
	$(call passkey_demo,$(PASSKEY_GRID),$(BUILD))
demo-full: $(BUILD)/rwkvx-passkey
	$(call passkey_demo,$(PASSKEY_GRID_FULL),docs)

# rwkvx-soak (tools/soak.c, docs/SOAK.md) decodes a million tokens and reports
# speed and resident memory; make test runs only a short smoke run of it.

# `make chat-demo` makes a small model from RANDOM weights (one RWKV-7 block,
# C = 64, made by tests/make_wide_model.c) that carries the World vocabulary,
# and starts rwkvx-chat with it. Its replies are NONSENSE: it shows the
# plumbing (tokenizer, chat format, sampler, state kept between turns)
# working. A real model: README.md, "Chat and tokenizer".
CHAT_DEMO_MODEL  = $(BUILD)/chat-demo-random.gguf
CHAT_DEMO_FLAGS ?= -n 40
$(CHAT_DEMO_MODEL): $(BUILD)/make_wide_model $(BUILD)/rwkvx-convert tests/fixtures/rwkv_vocab_v20230424.txt
	$(BUILD)/make_wide_model $(BUILD)/chat-demo-random.safetensors
	$(BUILD)/rwkvx-convert $(BUILD)/chat-demo-random.safetensors $@ --type f16 \
	    --vocab tests/fixtures/rwkv_vocab_v20230424.txt >&2
	rm -f $(BUILD)/chat-demo-random.safetensors
chat-demo: $(CHAT_DEMO_MODEL) $(BUILD)/rwkvx-chat
	@echo "chat-demo: a model of RANDOM weights with the World vocabulary: its replies are NONSENSE." >&2
	@echo "chat-demo: it shows the chat working; for a real model see README.md, 'Chat and tokenizer'." >&2
	$(BUILD)/rwkvx-chat -m $(CHAT_DEMO_MODEL) $(CHAT_DEMO_FLAGS)

# ---- llama.cpp and Hugging Face files (issue 14) ----
# `make interop` checks rwkvx against real llama.cpp (node-llama-cpp's prebuilt
# CPU build, `npm ci` from tests/interop/package-lock.json into $(BUILD)/interop;
# needs npm, Node.js (Node.js 20 is fetched when older), python3, the network once).
.PHONY: interop
interop: $(BUILD)/rwkvx-convert $(BUILD)/rwkvx-logits
	BUILD=$(BUILD) bash tests/interop/run.sh

# ---- Batched evaluation and the OpenAI-compatible server (issue 15) ----
# tests/internals/batch.h: rwkvx_eval_batch against rwkvx_eval; tools/server.c
# (rwkvx-server, docs/SERVER.md) links libmicrohttpd. make test installs what
# the server and its tests need when it is missing (tests/server/need_deps.sh:
# apt-get, through sudo when not root: libmicrohttpd-dev, curl, nodejs, npm)
# or fails: the server tests are never skipped.
test-programs: $(BUILD)/server-test-deps $(BUILD)/rwkvx-server $(BUILD)/rwkvx-server-asan
$(BUILD)/rwkvx-server $(BUILD)/rwkvx-server-asan: LDLIBS += -lmicrohttpd -lpthread
$(BUILD)/rwkvx-server $(BUILD)/rwkvx-server-asan: | $(BUILD)/server-build-deps
$(BUILD)/server-build-deps: tests/server/need_deps.sh | $(BUILD)
	bash tests/server/need_deps.sh build && touch $@
$(BUILD)/server-test-deps: tests/server/need_deps.sh | $(BUILD)
	bash tests/server/need_deps.sh test && touch $@
