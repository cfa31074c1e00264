# moeprobe build. Sources are globbed per room so that a new module or test is one new file.
#   make            release build of bin/moeprobe and the test programs
#   make debug      the same with ASan/UBSan into build-debug/ and bin-debug/
#   make test       build, then run every test; ends with "N passed, N failed"
#   make test-avx2  make test with every product on the AVX2 + FMA path and OpenBLAS capped at
#                   Haswell: a node without AVX-512, emulated on one that has it
#   make test-full  full-scale make-model + inspect of the six real configs (tests/full/)
#   make bench      benchmarks (installs its own Python baseline into .bench-venv)
#   make fuzz       libFuzzer harnesses over every outside-input parser
#   make deps       install the Debian packages moeprobe needs (apt-get)
#   make format     reformat every tracked C file with .clang-format (clang-format 14)
#   make format-check  fail when a tracked C file differs from .clang-format (run by make test)

BUILD ?= build
BIN   ?= bin
MODE  ?= release

PKGS    := hdf5 openblas yaml-0.1 jansson libpcre2-8 libutf8proc ompi-c
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CC      ?= gcc
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation
CSTD    := -std=c11 -D_GNU_SOURCE
ifeq ($(MODE),debug)
OPT     := -O1 -g -march=x86-64-v2 -mavx2 -mfma -mf16c -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDOPT   := -fsanitize=address,undefined
else
OPT     := -O2 -g -march=x86-64-v2 -mavx2 -mfma -mf16c
LDOPT   :=
endif
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# 1 when tracked files differ from HEAD (the archive's provenance says the build is dirty)
GIT_DIRTY  := $(shell git rev-parse HEAD >/dev/null 2>&1 && { git diff --quiet HEAD -- 2>/dev/null && echo 0 || echo 1; } || echo 0)
VERSION    := 0.1.0
CFLAGS  += $(CSTD) $(WARN) $(OPT) -I. $(PKG_CFLAGS) -DMOEPROBE_VERSION=\"$(VERSION)\"
LDLIBS  += $(PKG_LIBS) -lhdf5_hl -lm -lpthread
LDFLAGS += $(LDOPT)

LIB_SRC  := $(wildcard pipeline/*/*.c) $(wildcard stages/*.c) $(wildcard jobs/*.c) \
            $(wildcard report/*.c) $(wildcard tools/*/*.c)
CLI_SRC  := $(wildcard cli/*.c)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_SUPPORT := $(filter-out $(TEST_SRC),$(wildcard tests/unit/*.c))
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BIN)/tools/%)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/analysis_registry.o $(BUILD)/gen/paper_data.o
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
SUP_OBJ  := $(TEST_SUPPORT:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BIN)/tests/%)
LIBA     := $(BUILD)/libmoeprobe.a

.PHONY: all debug test test-debug test-avx2 test-full bench fuzz deps format format-check clean distclean
all: $(BIN)/moeprobe $(TEST_BIN) $(TOOL_BIN)

debug:
	$(MAKE) MODE=debug BUILD=build-debug BIN=bin-debug all

# Only build_info.o knows the git state; the stamp changes (and rebuilds it) when HEAD or the
# dirty flag does.
BUILD_STAMP := $(BUILD)/gen/build_info.stamp
$(shell mkdir -p $(BUILD)/gen && echo "$(GIT_COMMIT) $(GIT_DIRTY)" | cmp -s - $(BUILD_STAMP) || echo "$(GIT_COMMIT) $(GIT_DIRTY)" > $(BUILD_STAMP))
$(BUILD)/pipeline/util/build_info.o: $(BUILD_STAMP)
$(BUILD)/pipeline/util/build_info.o: CFLAGS += -DMOEPROBE_GIT=\"$(GIT_COMMIT)\" -DMOEPROBE_DIRTY=$(GIT_DIRTY)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The stage registry lists every `const analysis_def stage_NAME` found in stages/*.c.
$(BUILD)/gen/analysis_registry.c: $(wildcard stages/*.c) scripts/gen-analysis-registry.sh
	@mkdir -p $(dir $@)
	scripts/gen-analysis-registry.sh $(wildcard stages/*.c) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/analysis_registry.o: $(BUILD)/gen/analysis_registry.c
	$(CC) $(CFLAGS) -c $< -o $@

# The paper's reported numbers (data/paper/*.yaml), embedded for the report (report/paper.c).
$(BUILD)/gen/paper_data.c: $(wildcard data/paper/*.yaml) scripts/gen-paper-data.sh
	@mkdir -p $(dir $@)
	scripts/gen-paper-data.sh $(sort $(wildcard data/paper/*.yaml)) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/paper_data.o: $(BUILD)/gen/paper_data.c
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/moeprobe: $(CLI_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBA) $(LDLIBS)

$(BIN)/tests/%: $(BUILD)/tests/unit/%.o $(SUP_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(SUP_OBJ) $(LIBA) $(LDLIBS)

$(BIN)/tools/%: $(BUILD)/tests/tools/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

# The test runner builds first; it runs every tests/unit binary and tests/cli script.
test: all
	@tests/run.sh $(BIN)

test-debug: debug
	@tests/run.sh bin-debug

# A node without AVX-512 (AMD Zen 2/3, older Intel), emulated: the avx2 kernels everywhere, the
# avx2 emulation of the bf16 products (no vdpbf16ps), OpenBLAS's Haswell kernels.
test-avx2: all
	@MOEPROBE_ISA=avx2 OPENBLAS_CORETYPE=Haswell tests/run.sh $(BIN)

# Full-scale random checkpoints of the six real configs (tens of GB, minutes); not in `make test`.
test-full: all
	@tests/full/make_model_full.sh $(BIN)

bench: all
	@bench/run.sh $(BIN)

fuzz:
	@tests/fuzz/run.sh

deps:
	@scripts/install-deps.sh

# One formatter version for everyone: its output differs between clang-format releases.
CLANG_FORMAT ?= $(shell command -v clang-format-14 || command -v clang-format)
FORMAT_SRC = $(shell git ls-files '*.c' '*.h')
format:
	@$(CLANG_FORMAT) -i $(FORMAT_SRC)

format-check:
	@$(CLANG_FORMAT) --version | grep -q 'version 14\.' || { echo "format-check: needs clang-format 14, found: $$($(CLANG_FORMAT) --version)"; exit 2; }
	@$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build build-debug bin bin-debug build-arm64 bin-arm64

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(SUP_OBJ:.o=.d) $(TOOL_SRC:%.c=$(BUILD)/%.d) $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%.d)
