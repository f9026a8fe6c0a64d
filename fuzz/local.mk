# fuzz: libFuzzer targets (scripts/fuzz.sh builds them with clang -fsanitize=fuzzer) and their
# smoke in `make check` through a stand-alone driver over the committed seed corpus.
check_PROGRAMS += tests/fuzz_proto_smoke tests/fuzz_conf_smoke tests/fuzz_auth_smoke \
	tests/fuzz_wal_smoke tests/fuzz_resp_smoke
TESTS += tests/fuzz_proto_smoke tests/fuzz_conf_smoke tests/fuzz_auth_smoke tests/fuzz_wal_smoke \
	tests/fuzz_resp_smoke
tests_fuzz_proto_smoke_SOURCES = fuzz/fuzz.h fuzz/fuzz_proto.c fuzz/driver.c
tests_fuzz_proto_smoke_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/data/proto"'
tests_fuzz_proto_smoke_LDADD = proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) -lm
tests_fuzz_conf_smoke_SOURCES = fuzz/fuzz.h fuzz/fuzz_conf.c fuzz/driver.c
tests_fuzz_conf_smoke_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/data/compat:$(abs_top_srcdir)/tests/data/bad:$(abs_top_srcdir)/tests/data/warn"'
tests_fuzz_conf_smoke_LDADD = conf/libconf.a common/libcommon.a -lm
# the handshake (auth/): recorded handshakes and attack prefixes (tests/data/auth, written by
# tests/test_auth --write-corpus) and the message samples (tests/data/proto, AUTH_* among them)
tests_fuzz_auth_smoke_SOURCES = fuzz/fuzz.h fuzz/fuzz_auth.c fuzz/driver.c
tests_fuzz_auth_smoke_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/data/auth:$(abs_top_srcdir)/tests/data/proto"'
tests_fuzz_auth_smoke_LDADD = auth/libauth.a conf/libconf.a proto/libproto.a common/libcommon.a \
	$(MSGPACK_LIBS) $(SODIUM_LIBS) -lm
# the WAL reader (wal/): segment files, good, torn, damaged in the middle, short
# (tests/data/wal); each input is written to a mktemp directory and checked, started, appended to.
# 250 rounds: an input costs a few fdatasyncs (about 7 ms), 1000 would take half a minute
tests_fuzz_wal_smoke_SOURCES = fuzz/fuzz.h fuzz/fuzz_wal.c fuzz/driver.c
tests_fuzz_wal_smoke_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_ROUNDS=250 \
	-DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/data/wal"'
tests_fuzz_wal_smoke_LDADD = wal/libwal.a common/libcommon.a -lm -lpthread
# the gateway's RESP2 request parser (resp/): requests whole, pipelined, inline with quotes,
# malformed and oversized (tests/data/resp), parsed whole and in 7-byte pieces
tests_fuzz_resp_smoke_SOURCES = fuzz/fuzz.h fuzz/fuzz_resp.c fuzz/driver.c
tests_fuzz_resp_smoke_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/data/resp"'
tests_fuzz_resp_smoke_LDADD = resp/libresp.a common/libcommon.a -lm
