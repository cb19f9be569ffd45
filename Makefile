# socktrace: build, test, install. Output goes to build/.
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
B       := build
WARN    := -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
CPPFLAGS += -Iinclude -D_GNU_SOURCE

PRELOAD_SRC := $(wildcard preload/*.c)
VIEWER_SRC  := $(wildcard viewer/*.c)
PRELOAD_OBJ := $(PRELOAD_SRC:%.c=$(B)/%.o)
VIEWER_OBJ  := $(VIEWER_SRC:%.c=$(B)/%.o)
HDRS        := $(wildcard include/*.h preload/*.h viewer/*.h)

ifneq ($(V),1)
Q = @
endif

all: $(B)/libsocktrace.so $(B)/socktrace

$(B)/preload/%.o: preload/%.c $(HDRS)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -ftls-model=initial-exec \
		-fno-stack-protector -flto -c $< -o $@

$(B)/libsocktrace.so: $(PRELOAD_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) -shared -Wl,-z,defs -Wl,-z,now $(CFLAGS) -flto -fvisibility=hidden -o $@ $^ -ldl -lpthread

$(B)/viewer/%.o: viewer/%.c $(HDRS)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -DST_LIBDIR='"$(PREFIX)/lib/socktrace"' -c $< -o $@

$(B)/socktrace: $(VIEWER_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -ldw -lelf

# the viewer again, under AddressSanitizer and UndefinedBehaviorSanitizer
$(B)/asan/socktrace: $(VIEWER_SRC) $(HDRS)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) -O1 -g $(WARN) -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer -o $@ $(VIEWER_SRC) -ldw -lelf

# test programs (tests/progs): plain C with frame info, one built FORTIFY, one C++
TPROGS := invisible brokenpipe threads forkexec sighandler busy classic pingpong dlopener allcalls scenarios benchcall torture conns harm
TEST_BINS := $(TPROGS:%=$(B)/tests/%) $(B)/tests/exceptions $(B)/tests/fortify $(B)/tests/libearly.so \
             $(B)/tests/libstub.so
$(B)/tests/%: tests/progs/%.c tests/progs/common.h
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) -O1 -g -D_GNU_SOURCE $(WARN) -pthread -o $@ $<
$(B)/tests/fortify: tests/progs/fortify.c tests/progs/common.h
	@mkdir -p $(@D)
	@echo "  CC      $< (FORTIFY)"
	$(Q)$(CC) -O2 -D_FORTIFY_SOURCE=2 $(WARN) -o $@ $<
$(B)/tests/exceptions: tests/progs/exceptions.cpp
	@mkdir -p $(@D)
	@echo "  CXX     $<"
	$(Q)$(CXX) -O1 -g $(WARN) -o $@ $<
$(B)/tests/libearly.so: tests/progs/early.c
	@mkdir -p $(@D)
	$(Q)$(CC) -shared -fPIC $(WARN) -o $@ $<
$(B)/tests/libstub.so: tests/progs/stub.c
	@mkdir -p $(@D)
	$(Q)$(CC) -O2 -shared -fPIC $(WARN) -o $@ $<

test-progs: $(TEST_BINS) $(B)/tests/test_lifecycle

# unit tests of the viewer's pure parts, under ASan/UBSan
$(B)/tests/test_lifecycle: tests/unit/test_lifecycle.c viewer/lifecycle.c viewer/decode.c viewer/reader.c viewer/emit.c $(HDRS)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) -Iviewer -O1 -g $(WARN) -fsanitize=address,undefined -fno-sanitize-recover=all \
		-o $@ tests/unit/test_lifecycle.c viewer/lifecycle.c viewer/decode.c viewer/reader.c viewer/emit.c

# libFuzzer target for the reader and everything behind it (needs clang)
FUZZ_SRC := $(filter-out viewer/main.c,$(VIEWER_SRC)) tests/fuzz/fuzz_reader.c
$(B)/fuzz_reader: $(FUZZ_SRC) $(HDRS)
	@mkdir -p $(@D)
	@echo "  CLANG   $@"
	$(Q)clang $(CPPFLAGS) -Iviewer -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		$(WARN) -Wno-unused-command-line-argument -o $@ $(FUZZ_SRC) -ldw -lelf
fuzz: $(B)/fuzz_reader
	@mkdir -p $(B)/fuzz-corpus
	$(B)/fuzz_reader -dict=tests/fuzz/trace.dict -max_total_time=$${FUZZ_SECONDS:-1800} -max_len=20000 \
		-rss_limit_mb=4096 $(B)/fuzz-corpus

test:
	$(Q)tests/deps.sh --build --test
	$(Q)$(MAKE) -s all $(B)/asan/socktrace test-progs $(B)/fuzz_reader
	$(Q)tests/run.sh

bench:
	$(Q)tests/deps.sh --build --test --bench
	$(Q)$(MAKE) -s all test-progs
	$(Q)tests/bench.sh

demo:
	$(Q)tests/deps.sh --build
	$(Q)$(MAKE) -s all test-progs
	$(Q)tests/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/socktrace
	install -m 0755 $(B)/socktrace $(DESTDIR)$(PREFIX)/bin/socktrace
	install -m 0644 $(B)/libsocktrace.so $(DESTDIR)$(PREFIX)/lib/socktrace/libsocktrace.so
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 0644 doc/socktrace.1 $(DESTDIR)$(PREFIX)/share/man/man1/socktrace.1
	install -m 0644 doc/libsocktrace.7 $(DESTDIR)$(PREFIX)/share/man/man7/libsocktrace.7

clean:
	rm -rf $(B)

.PHONY: all test test-progs fuzz bench demo install clean
