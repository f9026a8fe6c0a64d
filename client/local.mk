# client/cluster: the client library's I/O shell (master connection, sessions, stats fetch).
noinst_LIBRARIES += client/libcluster.a
client_libcluster_a_SOURCES = client/cluster.h client/cluster.c

# client/loadgen: the load generator (`curpkv -run client`): workload, report, threads.
noinst_LIBRARIES += client/libloadgen.a
client_libloadgen_a_SOURCES = client/loadgen.h client/loadgen.c client/cli.h client/cli.c \
	client/workload.h client/workload.c client/report.h client/report.c

check_PROGRAMS += tests/test_loadgen
TESTS += tests/test_loadgen
tests_test_loadgen_SOURCES = tests/test_loadgen.c
tests_test_loadgen_LDADD = client/libloadgen.a client/libcluster.a client/libsession.a net/libnet.a \
	auth/libauth.a conf/libconf.a proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) \
	$(SODIUM_LIBS) $(EV_LIBS) $(CK_LIBS) $(TEST_LIBS) -lm -lpthread

# The CLI's errors on the real binary, without a cluster (a socket of the test plays the master).
check_PROGRAMS += tests/test_cli
TESTS += tests/test_cli
tests_test_cli_SOURCES = tests/test_cli.c tests/proc.c tests/proc.h
tests_test_cli_LDADD = $(TEST_LIBS)

# The installed client library: the public API (include/curpkv.h) and every object it needs.
lib_LIBRARIES = client/libcurpkv.a
client_libcurpkv_a_SOURCES = client/api.c
client_libcurpkv_a_LIBADD = $(client_libcluster_a_OBJECTS) $(client_libsession_a_OBJECTS) \
	$(net_libnet_a_OBJECTS) $(auth_libauth_a_OBJECTS) $(conf_libconf_a_OBJECTS) $(proto_libproto_a_OBJECTS) \
	$(common_libcommon_a_OBJECTS)
# The objects above come from other targets: make must build them before archiving.
client_libcurpkv_a_DEPENDENCIES = $(client_libcurpkv_a_LIBADD)
include_HEADERS = include/curpkv.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = curpkv.pc
dist_man_MANS = docs/curpkv.1

# `make installcheck`: a program built against the installed header, library and .pc file only
# runs put/get/del against a cluster started with the installed binary.
EXTRA_DIST += tests/installcheck/hello.c tests/installcheck/run.sh
installcheck-local:
	$(SHELL) $(srcdir)/tests/installcheck/run.sh $(srcdir) $(DESTDIR)$(bindir) \
		$(DESTDIR)$(libdir)/pkgconfig $(DESTDIR)

# The churn driver of scripts/client-churn.sh (issue 17 item 3): many short-lived clients, each
# a new client id that writes once and is never heard from again.
noinst_PROGRAMS += bench/bench_churn
bench_bench_churn_SOURCES = bench/bench_churn.c
bench_bench_churn_LDADD = client/libcluster.a client/libsession.a net/libnet.a auth/libauth.a \
	conf/libconf.a proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) $(SODIUM_LIBS) \
	$(EV_LIBS) $(CK_LIBS) -lm
