# auth: the shared-secret handshake (libsodium), the role table, the failure-log limiter.
noinst_LIBRARIES += auth/libauth.a
auth_libauth_a_SOURCES = auth/auth.h auth/auth.c
