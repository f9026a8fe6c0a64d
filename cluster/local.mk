# cluster: the client library's I/O shell (master connection, sessions, stats fetch).
noinst_LIBRARIES += cluster/libcluster.a
cluster_libcluster_a_SOURCES = cluster/cluster.h cluster/cluster.c

# The churn driver of scripts/client-churn.sh (issue 17 item 3): many short-lived clients, each
# a new client id that writes once and is never heard from again.
noinst_PROGRAMS += bench/bench_churn
bench_bench_churn_SOURCES = bench/bench_churn.c
bench_bench_churn_LDADD = cluster/libcluster.a client/libsession.a net/libnet.a auth/libauth.a \
	conf/libconf.a proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) $(SODIUM_LIBS) \
	$(EV_LIBS) $(CK_LIBS) -lm
