#include "tests/proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* PIDs started and not yet reaped (tests start a handful of processes at most). */
#define PROC_MAX_LIVE 64
static pid_t live[PROC_MAX_LIVE];

static void live_add(pid_t pid)
{
	for (int i = 0; i < PROC_MAX_LIVE; i++)
		if (live[i] == 0) {
			live[i] = pid;
			return;
		}
}

static void live_del(pid_t pid)
{
	for (int i = 0; i < PROC_MAX_LIVE; i++)
		if (live[i] == pid)
			live[i] = 0;
}

void proc_kill_all(void)
{
	for (int i = 0; i < PROC_MAX_LIVE; i++) {
		if (live[i] > 0) {
			kill(live[i], SIGKILL);
			waitpid(live[i], NULL, 0);
			live[i] = 0;
		}
	}
}

int proc_tmpdir(char *dir)
{
	const char *t = getenv("TMPDIR");
	snprintf(dir, 256, "%s/curpkv-test.XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(dir) ? 0 : -errno;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void proc_rmdir(const char *dir)
{
	if (dir && *dir && getenv("CURPKV_KEEP_TMP") != NULL) {
		fprintf(stderr, "kept %s (CURPKV_KEEP_TMP)\n", dir);
		return;
	}
	if (dir && *dir)
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static bool port_free(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

uint16_t proc_free_ports(int count, uint64_t seed)
{
	uint64_t x = seed ^ ((uint64_t)getpid() << 16);
	for (int attempt = 0; attempt < 200; attempt++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		/* below the kernel's ephemeral range (32768-60999 by default): a port probed free
		 * there can be taken by an outgoing connection before the server binds it */
		uint16_t base = (uint16_t)(20000 + (x >> 33) % 12000);
		bool ok = true;
		for (int i = 0; i < count && ok; i++)
			ok = port_free((uint16_t)(base + i));
		if (ok)
			return base;
	}
	return 0;
}

int proc_dial(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int proc_start(struct proc *p, const char *name, const char *logpath, char *const argv[])
{
	return proc_start_in(p, name, logpath, NULL, NULL, argv);
}

int proc_start_in(struct proc *p, const char *name, const char *logpath, const char *errpath,
		  const char *dir, char *const argv[])
{
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	snprintf(p->log, sizeof p->log, "%s", logpath);
	int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		if (errpath) {
			int efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (efd >= 0)
				dup2(efd, 2);
		}
		if (dir && chdir(dir) != 0)
			_exit(126);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fd);
	p->pid = pid;
	live_add(pid);
	return 0;
}

void proc_signal(const struct proc *p, int sig)
{
	if (p->pid > 0)
		kill(p->pid, sig);
}

static void nap_ms(int ms)
{
	poll(NULL, 0, ms);
}

int proc_wait(struct proc *p, int timeout_ms)
{
	if (p->pid <= 0)
		return -ECHILD;
	for (int waited = 0;; waited += 10) {
		int st;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			live_del(p->pid);
			p->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		if (r < 0)
			return -errno;
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		nap_ms(10);
	}
}

int proc_stop(struct proc *p, int timeout_ms)
{
	if (p->pid <= 0)
		return -ECHILD;
	kill(p->pid, SIGTERM);
	int st = proc_wait(p, timeout_ms);
	if (st == -ETIMEDOUT) {
		kill(p->pid, SIGKILL);
		st = proc_wait(p, 5000);
		if (st >= 0)
			st = -ETIMEDOUT; /* did not stop on SIGTERM */
	}
	return st;
}

bool proc_alive(const struct proc *p)
{
	if (p->pid <= 0)
		return false;
	int st;
	return waitpid(p->pid, &st, WNOHANG) == 0;
}

static bool file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

bool proc_wait_log(const struct proc *p, const char *needle, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		if (file_contains(p->log, needle))
			return true;
		nap_ms(20);
	}
	return false;
}

uint64_t proc_rss_kib(const struct proc *p)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)p->pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	char line[256];
	unsigned long long kib = 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

const char *proc_curpkv_path(char *buf, size_t len)
{
	/* absolute even without CURPKV_BUILDDIR: some tests start it in another directory */
	const char *b = getenv("CURPKV_BUILDDIR");
	char cwd[400];
	if (!(b && *b))
		b = getcwd(cwd, sizeof cwd) ? cwd : ".";
	snprintf(buf, len, "%s/curpkv", b);
	return buf;
}
