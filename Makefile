# socktrace: build, test, install. Output goes to build/.
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
B       := build
WARN    := -Wall -Wextra -Wshadow -Wmissing-prototypes -Werror
TWARN   := -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
CPPFLAGS += -Iinclude -D_GNU_SOURCE
DEPFLAGS = -MMD -MP

# one source list per binary
PRELOAD_SRC := $(wildcard preload/*.c)
VIEWER_SRC  := $(wildcard viewer/*.c)
VIEWER_LIB  := viewer/reader.c viewer/decode.c viewer/emit.c viewer/lifecycle.c viewer/order.c
UNIT_SRC    := tests/unit/unit.c tests/unit/test_lifecycle.c tests/unit/test_decode.c $(VIEWER_LIB)
RING_SRC    := tests/unit/unit.c tests/unit/test_ring.c viewer/reader.c $(PRELOAD_SRC)
FUZZ_SRC    := $(filter-out viewer/main.c,$(VIEWER_SRC)) tests/fuzz/fuzz_reader.c
PRELOAD_OBJ := $(PRELOAD_SRC:%.c=$(B)/%.o)
VIEWER_OBJ  := $(VIEWER_SRC:%.c=$(B)/%.o)
HDRS        := $(wildcard include/*.h preload/*.h viewer/*.h tests/unit/*.h)

ifneq ($(V),1)
Q = @
endif

all: $(B)/libsocktrace.so $(B)/socktrace

$(B)/preload/%.o: preload/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(DEPFLAGS) $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -ftls-model=initial-exec \
		-fno-stack-protector -flto -c $< -o $@

$(B)/libsocktrace.so: $(PRELOAD_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) -shared -Wl,-z,defs -Wl,-z,now $(CFLAGS) -flto=auto -fvisibility=hidden -o $@ $^ -ldl -lpthread

$(B)/viewer/%.o: viewer/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(DEPFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

# what embeds PREFIX is rebuilt when PREFIX changes
$(B)/prefix.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' > $@
$(B)/viewer/cmd_record.o: $(B)/prefix.stamp
$(B)/viewer/cmd_record.o: CPPFLAGS += -DST_LIBDIR='"$(PREFIX)/lib/socktrace"'

-include $(PRELOAD_OBJ:.o=.d) $(VIEWER_OBJ:.o=.d)

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
TPROGS := invisible brokenpipe threads forkexec sighandler busy classic pingpong dlopener allcalls scenarios benchcall torture conns harm patterns
TEST_BINS := $(TPROGS:%=$(B)/tests/%) $(B)/tests/exceptions $(B)/tests/fortify $(B)/tests/libearly.so \
             $(B)/tests/libstub.so
$(B)/tests/%: tests/progs/%.c tests/progs/common.h
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) -O1 -g -D_GNU_SOURCE $(TWARN) -pthread -o $@ $<
$(B)/tests/fortify: tests/progs/fortify.c tests/progs/common.h
	@mkdir -p $(@D)
	@echo "  CC      $< (FORTIFY)"
	$(Q)$(CC) -O2 -D_FORTIFY_SOURCE=2 $(TWARN) -o $@ $<
$(B)/tests/exceptions: tests/progs/exceptions.cpp
	@mkdir -p $(@D)
	@echo "  CXX     $<"
	$(Q)$(CXX) -O1 -g $(TWARN) -o $@ $<
$(B)/tests/libearly.so: tests/progs/early.c
	@mkdir -p $(@D)
	$(Q)$(CC) -shared -fPIC $(TWARN) -o $@ $<
$(B)/tests/libstub.so: tests/progs/stub.c
	@mkdir -p $(@D)
	$(Q)$(CC) -O2 -shared -fPIC $(TWARN) -o $@ $<

test-progs: $(TEST_BINS) $(B)/tests/unit $(B)/tests/unit_ring $(B)/tests/symbols

# unit tests: the viewer's pure parts under ASan/UBSan; the ring writer and reader together
$(B)/tests/unit: $(UNIT_SRC) $(HDRS)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) -Iviewer -Itests/unit -O1 -g $(WARN) -fsanitize=address,undefined \
		-fno-sanitize-recover=all -o $@ $(UNIT_SRC)
$(B)/tests/symbols: tests/unit/symbols.c include/socktrace_calls.h
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) -O1 $(WARN) -o $@ $<
$(B)/tests/unit_ring: $(RING_SRC) $(HDRS)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) -Iviewer -Ipreload -Itests/unit -O2 -g $(WARN) -Wno-maybe-uninitialized \
		-ftls-model=initial-exec \
		-o $@ $(RING_SRC) -ldl -lpthread

# libFuzzer target for the reader and everything behind it (needs clang)
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

.PHONY: all test test-progs fuzz bench demo install clean FORCE
