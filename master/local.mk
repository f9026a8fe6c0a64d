# master: the configuration manager process (`curpkv -run master`).
noinst_LIBRARIES += master/libmaster.a
master_libmaster_a_SOURCES = master/master.h master/master.c
