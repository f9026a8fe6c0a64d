# report: latency samples and the load generator's report (tests: test_loadgen).
noinst_LIBRARIES += report/libreport.a
report_libreport_a_SOURCES = report/report.h report/report.c
