# fuzz.mk — builds the libFuzzer harnesses tests/fuzz/fuzz_*.c with clang into build-fuzz/
# (called by tests/fuzz/run.sh; run from the repository root). pipeline/, jobs/ (manifest and
# status, fuzz_manifest), report/ (fuzz_archive renders reports) and stages/ (whose
# registry gives the run config its analyses' keys) are compiled with coverage instrumentation (-fsanitize=fuzzer-no-link) plus ASan and UBSan (UB aborts, so
# libFuzzer records it as a crash); each harness links with -fsanitize=fuzzer.
FUZZ_DIR ?= build-fuzz
FUZZ_CC  ?= clang

PKGS       := hdf5 openblas yaml-0.1 jansson libpcre2-8 libutf8proc ompi-c
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FCFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -march=x86-64-v2 -mavx2 -mfma -mf16c \
           -fno-omit-frame-pointer -Wno-unused-command-line-argument $(SAN) -I. $(PKG_CFLAGS) \
           -DMOEPROBE_VERSION=\"fuzz\" -DMOEPROBE_GIT=\"fuzz\" -DFUZZ_ROOT=\"$(CURDIR)\"
LIBS   := $(PKG_LIBS) -lhdf5_hl -lm -lpthread

LIB_SRC := $(wildcard pipeline/*/*.c) $(wildcard stages/*.c) $(wildcard jobs/*.c) $(wildcard report/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o) $(FUZZ_DIR)/obj/gen/analysis_registry.o \
           $(FUZZ_DIR)/obj/gen/paper_data.o
HARNESS := $(wildcard tests/fuzz/fuzz_*.c)
BINS    := $(HARNESS:tests/fuzz/%.c=$(FUZZ_DIR)/%)

.PHONY: all
all: $(BINS)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FCFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_DIR)/gen/analysis_registry.c: $(wildcard stages/*.c) scripts/gen-analysis-registry.sh
	@mkdir -p $(dir $@)
	scripts/gen-analysis-registry.sh $(wildcard stages/*.c) > $@.tmp && mv $@.tmp $@

$(FUZZ_DIR)/obj/gen/analysis_registry.o: $(FUZZ_DIR)/gen/analysis_registry.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FCFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# the paper's numbers, embedded for the report (fuzz_archive renders reports)
$(FUZZ_DIR)/gen/paper_data.c: $(wildcard data/paper/*.yaml) scripts/gen-paper-data.sh
	@mkdir -p $(dir $@)
	scripts/gen-paper-data.sh $(sort $(wildcard data/paper/*.yaml)) > $@.tmp && mv $@.tmp $@

$(FUZZ_DIR)/obj/gen/paper_data.o: $(FUZZ_DIR)/gen/paper_data.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FCFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# The numerical kernels are built without sanitizers and coverage: they parse no outside input
# (ASan checks them in `make debug`'s test_kern), and instrumented they were most of this build
# (kern_avx512.c 47 s of clang against 5 s plain, kern_generic 13 s, kern_avx2 9 s).
$(FUZZ_DIR)/obj/pipeline/ops/kern_%.o: pipeline/ops/kern_%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out $(SAN),$(FCFLAGS)) -MMD -MP -c $< -o $@

# clang ignores kern_avx512.c's `#pragma GCC target`: the AVX-512 kernels get their target on
# the command line here (the path is still chosen at run time, so the harnesses run anywhere).
$(FUZZ_DIR)/obj/pipeline/ops/kern_avx512.o: FCFLAGS += -mavx512f -mavx512bw -mavx512vl -mavx512dq
$(FUZZ_DIR)/obj/pipeline/ops/kern_avx512bf16.o: FCFLAGS += -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16

$(FUZZ_DIR)/libpipeline.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_DIR)/libpipeline.a
	$(FUZZ_CC) $(FCFLAGS) -fsanitize=fuzzer $< $(FUZZ_DIR)/libpipeline.a $(LIBS) -o $@

-include $(LIB_OBJ:.o=.d)
