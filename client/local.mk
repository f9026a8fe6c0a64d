# client: the client session protocol logic (a state machine without I/O).
noinst_LIBRARIES += client/libsession.a
client_libsession_a_SOURCES = client/session.h client/session.c
