# Protocol-core tests: replica cores and client sessions wired in one process over seeded
# FIFO channels through the real codec (the seed of the deterministic simulation).
check_PROGRAMS += tests/test_core
TESTS += tests/test_core
tests_test_core_SOURCES = tests/test_core.c tests/harness.c tests/harness.h
tests_test_core_LDADD = replica/libcore.a oset/liboset.a client/libsession.a proto/libproto.a \
	desc/libdesc.a cmap/libcmap.a common/libcommon.a $(MSGPACK_LIBS) $(CK_LIBS) $(TEST_LIBS) -lm

# The view change's replay order (replica/core_replay.c) on hand-made witness records.
check_PROGRAMS += tests/test_replay
TESTS += tests/test_replay
tests_test_replay_SOURCES = tests/test_replay.c
tests_test_replay_LDADD = replica/libcore.a oset/liboset.a proto/libproto.a desc/libdesc.a \
	cmap/libcmap.a common/libcommon.a $(MSGPACK_LIBS) $(CK_LIBS) $(TEST_LIBS) -lm

check_PROGRAMS += tests/test_wlist
TESTS += tests/test_wlist
tests_test_wlist_SOURCES = tests/test_wlist.c
tests_test_wlist_LDADD = $(tests_test_replay_LDADD)

# System tests: master + replicas as real processes on 127.0.0.1 (needs the curpkv binary), in
# four programs over tests/env.c (processes, stats, bounded waits) and tests/cluster_env.c (the
# session driver): runs and faults; the load generator, the CLI and the C API; hostile input;
# hybrid consistency (the slot certificate of verify/). CLUSTER_TESTS=pattern selects tests.
CLUSTER_PROGS = tests/test_cluster_runs tests/test_cluster_clients \
	tests/test_cluster_hostile tests/test_cluster_hybrid
check_PROGRAMS += $(CLUSTER_PROGS)
TESTS += $(CLUSTER_PROGS)
CLUSTER_ENV_SOURCES = tests/env.c tests/env.h tests/proc.c tests/proc.h tests/cluster_env.c \
	tests/cluster_env.h
CLUSTER_ENV_LIBS = cluster/libcluster.a client/libsession.a net/libnet.a auth/libauth.a \
	conf/libconf.a proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) $(SODIUM_LIBS) \
	$(EV_LIBS) $(CK_LIBS) $(TEST_LIBS) -lm -lpthread
tests_test_cluster_runs_SOURCES = tests/test_cluster_runs.c $(CLUSTER_ENV_SOURCES)
tests_test_cluster_runs_LDADD = $(CLUSTER_ENV_LIBS)
tests_test_cluster_clients_SOURCES = tests/test_cluster_clients.c $(CLUSTER_ENV_SOURCES)
tests_test_cluster_clients_LDADD = verify/libverify.a api/libcurpkv.a $(CLUSTER_ENV_LIBS)
tests_test_cluster_hostile_SOURCES = tests/test_cluster_hostile.c $(CLUSTER_ENV_SOURCES)
tests_test_cluster_hostile_LDADD = $(CLUSTER_ENV_LIBS)
tests_test_cluster_hybrid_SOURCES = tests/test_cluster_hybrid.c $(CLUSTER_ENV_SOURCES)
tests_test_cluster_hybrid_LDADD = verify/libverify.a $(CLUSTER_ENV_LIBS)

# System test of master restarts: client ids, readiness with a majority, the view learned from
# the replicas (real processes; shares tests/env.c with the test_cluster_* programs).
check_PROGRAMS += tests/test_master
TESTS += tests/test_master
tests_test_master_SOURCES = tests/test_master.c tests/env.c tests/env.h tests/proc.c tests/proc.h
tests_test_master_LDADD = cluster/libcluster.a client/libsession.a net/libnet.a auth/libauth.a conf/libconf.a \
	proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) $(SODIUM_LIBS) $(EV_LIBS) $(CK_LIBS) $(TEST_LIBS) -lm

# Client leases on real processes (issue 17 item 3): expired clients' records go, a late retry
# of an expired id is refused EXPIRED.
check_PROGRAMS += tests/test_lease
TESTS += tests/test_lease
tests_test_lease_SOURCES = tests/test_lease.c tests/env.c tests/env.h tests/proc.c tests/proc.h
tests_test_lease_LDADD = cluster/libcluster.a client/libsession.a net/libnet.a auth/libauth.a \
	conf/libconf.a proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) $(SODIUM_LIBS) \
	$(EV_LIBS) $(CK_LIBS) $(TEST_LIBS) -lm

# Deterministic simulation with faults (tests/sim.c), and its mutants: each builds the core
# with one known bug re-introduced and passes only if the simulation catches it.
SIM_LIBS = client/libsession.a verify/libverify.a proto/libproto.a desc/libdesc.a \
	cmap/libcmap.a oset/liboset.a common/libcommon.a $(MSGPACK_LIBS) $(CK_LIBS) -lm
SIM_MUTANTS = tests/sim_mutant_stale_spec tests/sim_mutant_double_exec \
	tests/sim_mutant_exec_on_timeout tests/sim_mutant_no_conflict_check \
	tests/sim_mutant_no_replay tests/sim_mutant_no_fencing \
	tests/sim_mutant_double_exec_history tests/sim_mutant_scan_short \
	tests/sim_mutant_scan_stale tests/sim_mutant_no_expiry_refusal
SIM_SOURCES = tests/sim.c tests/sim_check.c tests/sim.h tests/harness.c tests/harness.h
check_PROGRAMS += tests/test_sim $(SIM_MUTANTS)
TESTS += tests/test_sim $(SIM_MUTANTS)
# The simulation again, its restarts rebuilding replicas from their write-ahead-log records and one
# power loss per run (docs/durability.md).
TESTS += tests/test_sim_durable.sh
EXTRA_DIST += tests/test_sim_durable.sh
tests_test_sim_SOURCES = $(SIM_SOURCES)
tests_test_sim_LDADD = replica/libcore.a $(SIM_LIBS)
tests_sim_mutant_stale_spec_SOURCES = $(SIM_SOURCES) $(CORE_SOURCES)
tests_sim_mutant_stale_spec_CPPFLAGS = $(AM_CPPFLAGS) -DCURPKV_MUTANT_STALE_SPEC \
	-DCURPKV_MUTANT='"stale speculative value"'
tests_sim_mutant_stale_spec_LDADD = $(SIM_LIBS)
tests_sim_mutant_double_exec_SOURCES = $(SIM_SOURCES) $(CORE_SOURCES)
tests_sim_mutant_double_exec_CPPFLAGS = $(AM_CPPFLAGS) -DCURPKV_MUTANT_DOUBLE_EXEC \
	-DCURPKV_MUTANT='"retried cid executed twice"'
tests_sim_mutant_double_exec_LDADD = $(SIM_LIBS)
# the same mutant against the recorded histories only (no execution counts, slots or digests):
# the exactly-once append check must catch it
tests_sim_mutant_double_exec_history_SOURCES = $(SIM_SOURCES) $(CORE_SOURCES)
tests_sim_mutant_double_exec_history_CPPFLAGS = $(AM_CPPFLAGS) -DCURPKV_MUTANT_DOUBLE_EXEC \
	-DCURPKV_SIM_BLACKBOX -DCURPKV_MUTANT_EXPECT='"exactly once"' \
	-DCURPKV_MUTANT='"retried cid executed twice (histories only)"'
tests_sim_mutant_double_exec_history_LDADD = $(SIM_LIBS)
tests_sim_mutant_exec_on_timeout_SOURCES = $(SIM_SOURCES) $(CORE_SOURCES)
tests_sim_mutant_exec_on_timeout_CPPFLAGS = $(AM_CPPFLAGS) -DCURPKV_MUTANT_EXEC_ON_TIMEOUT \
	-DCURPKV_MUTANT='"execution on timeout"'
tests_sim_mutant_exec_on_timeout_LDADD = $(SIM_LIBS)
tests_sim_mutant_no_conflict_check_SOURCES = $(SIM_SOURCES) $(CORE_SOURCES)
tests_sim_mutant_no_conflict_check_CPPFLAGS = $(AM_CPPFLAGS) -DCURPKV_MUTANT_NO_CONFLICT_CHECK \
	-DCURPKV_MUTANT='"no witness conflict check"'
tests_sim_mutant_no_conflict_check_LDADD = $(SIM_LIBS)
tests_sim_mutant_no_replay_SOURCES = $(SIM_SOURCES) $(CORE_SOURCES)
tests_sim_mutant_no_replay_CPPFLAGS = $(AM_CPPFLAGS) -DCURPKV_MUTANT_NO_REPLAY \
	-DCURPKV_MUTANT='"no witness replay"'
tests_sim_mutant_no_replay_LDADD = $(SIM_LIBS)
tests_sim_mutant_no_fencing_SOURCES = $(SIM_SOURCES) $(CORE_SOURCES)
tests_sim_mutant_no_fencing_CPPFLAGS = $(AM_CPPFLAGS) -DCURPKV_MUTANT_NO_FENCING \
	-DCURPKV_MUTANT='"no fencing"' -DCURPKV_MUTANT_SEEDS=600
tests_sim_mutant_no_fencing_LDADD = $(SIM_LIBS)
# client leases: records dropped by EXPIRE, the id never refused (a late retry of an expired
# client's command executes again)
tests_sim_mutant_no_expiry_refusal_SOURCES = $(SIM_SOURCES) $(CORE_SOURCES)
tests_sim_mutant_no_expiry_refusal_CPPFLAGS = $(AM_CPPFLAGS) -DCURPKV_MUTANT_NO_EXPIRY_REFUSAL \
	-DCURPKV_MUTANT='"expired client ids not refused"'
tests_sim_mutant_no_expiry_refusal_LDADD = $(SIM_LIBS)
# Mutants of what the sessions return (the cores are the real ones): SCAN results altered on
# their way to the history, which the SCAN checks (tests/sim_check.c) must catch.
tests_sim_mutant_scan_short_SOURCES = $(SIM_SOURCES)
tests_sim_mutant_scan_short_CPPFLAGS = $(AM_CPPFLAGS) -DCURPKV_MUTANT_SCAN=1 \
	-DCURPKV_MUTANT_EXPECT='"strong SCAN"' -DCURPKV_MUTANT='"strong SCAN missing its last pair"'
tests_sim_mutant_scan_short_LDADD = replica/libcore.a $(SIM_LIBS)
tests_sim_mutant_scan_stale_SOURCES = $(SIM_SOURCES)
tests_sim_mutant_scan_stale_CPPFLAGS = $(AM_CPPFLAGS) -DCURPKV_MUTANT_SCAN=2 \
	-DCURPKV_MUTANT_EXPECT='"weak SCAN"' -DCURPKV_MUTANT='"weak SCAN with a stale value"'
tests_sim_mutant_scan_stale_LDADD = replica/libcore.a $(SIM_LIBS)

# The distributed mode of scripts/run-multi-client.sh end to end, through an sshd the test starts
# itself on 127.0.0.40-43 (skipped with a message where sshd cannot run). A shell test: automake's
# default driver (exit 0 = PASS, 77 = SKIP), not the TAP driver of the cmocka programs.
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = bash
TESTS += tests/test_dist.sh
EXTRA_DIST += tests/test_dist.sh

# The nemesis on real processes (scripts/nemesis.sh): one 30-second run per protocol on 3
# replicas against the tree's curpkv, after a check of its lost-write counter (TAP output; the
# .sh driver above goes by the exit status).
TESTS += tests/test_nemesis.sh
EXTRA_DIST += tests/test_nemesis.sh

# The lost-write counter that nemesis.sh and crash-all.sh report (scripts/history-common.sh) on
# hand-made histories, and check-history over two histories as one (no cluster).
TESTS += tests/test_lost_count.sh
EXTRA_DIST += tests/test_lost_count.sh

# Whole-cluster restart (scripts/crash-all.sh, issue 18 item 5): one short run per protocol with
# fsync: always: every replica and the master killed under load and started again from their
# stateDir, no acknowledged write lost (docs/durability.md).
TESTS += tests/test_crash_all.sh
EXTRA_DIST += tests/test_crash_all.sh

# Faults of stateDir on real processes (issue 18 item 7): a full tmpfs stops a replica with its
# message and nothing lost (the cluster restarts from the logs once there is room); a missing,
# non-directory or read-only stateDir refuses to start a replica and the master. Needs root for
# tmpfs mounts: SKIP (77) elsewhere.
TESTS += tests/test_durable_faults.sh
EXTRA_DIST += tests/test_durable_faults.sh

# The shared-secret handshake and roles (issue 19): the auth state machine, then real processes
# (every role with the right secret, wrong/missing secrets refused, the injected ACCEPT/COMMIT
# and REGISTER attacks without a handshake and with a replayed one, the deadline, maxClients).
check_PROGRAMS += tests/test_auth
TESTS += tests/test_auth
tests_test_auth_SOURCES = tests/test_auth.c tests/env.c tests/env.h tests/proc.c tests/proc.h
tests_test_auth_LDADD = api/libcurpkv.a cluster/libcluster.a client/libsession.a net/libnet.a \
	auth/libauth.a conf/libconf.a proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) \
	$(SODIUM_LIBS) $(EV_LIBS) $(CK_LIBS) $(TEST_LIBS) -lm

# State transfers of hundreds of chunks on real processes (scripts/large-state.sh, small).
TESTS += tests/test_large_state.sh
EXTRA_DIST += tests/test_large_state.sh

# scripts/del-soak.sh: its verdict on made-up samples, then a 20-second DEL-heavy soak (the
# 10-minute one is run by hand: docs/benchmarks.md "DEL soak").
TESTS += tests/test_del_soak.sh
EXTRA_DIST += tests/test_del_soak.sh

# scripts/run-local.sh and scripts/sweep-threads.sh: the CPU time per completed operation in
# summary.txt (total and per role) and results.csv's cpu_us_per_op (issue 21 item 1); the sweep's
# -f runs with stateDir and each fsync policy (issue 18 item 8).
TESTS += tests/test_run_local.sh
EXTRA_DIST += tests/test_run_local.sh

# The cores and the session when allocations fail (tests/failalloc): refusals, the stop with a
# message, and a scripted run with each allocation failing in turn (docs/design.md "Out of
# memory"; CURPKV_OOM_SAMPLES=all for every allocation).
check_PROGRAMS += tests/test_core_oom
TESTS += tests/test_core_oom
tests_test_core_oom_SOURCES = tests/test_core_oom.c tests/harness.c tests/harness.h \
	tests/failalloc.c tests/failalloc.h tests/child.c tests/child.h
tests_test_core_oom_LDFLAGS = $(FAILALLOC_FLAGS)
tests_test_core_oom_LDADD = $(tests_test_core_LDADD)
