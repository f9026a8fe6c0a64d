# workload: the load generator's operation mix, reproducible from a seed (tests: test_loadgen).
noinst_LIBRARIES += workload/libworkload.a
workload_libworkload_a_SOURCES = workload/workload.h workload/workload.c
