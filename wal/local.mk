# wal: the write-ahead log (segment files, records with CRC-32C, group commit, torn-tail repair).
# tests/test_wal also runs `curpkv wal-check` on the real binary.
noinst_LIBRARIES += wal/libwal.a
wal_libwal_a_SOURCES = wal/wal.c wal/wal.h wal/crc32c.c wal/crc32c.h wal/snap.c wal/snap.h

check_PROGRAMS += tests/test_wal
TESTS += tests/test_wal
tests_test_wal_SOURCES = tests/test_wal.c tests/proc.c tests/proc.h
tests_test_wal_LDADD = wal/libwal.a common/libcommon.a $(TEST_LIBS) -lm -lpthread
