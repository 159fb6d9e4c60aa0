/* tempnode.c: see tempnode.h. */
#include "cmd/tempnode.h"
#include "cmd/client.h"
#include "cmd/common.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEMPNODE_CONNECT_MS 20000
#define TEMPNODE_SYNC_MS 15000

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* GET path on the temp node: the reply's JSON (caller decrefs), NULL if none. */
static json_t *
tn_get(struct tempnode *tn, const char *path, long *status)
{
	struct client *c = NULL;
	struct client_req q = { .method = "GET", .path = path };
	struct client_reply r;
	json_t *j = NULL;

	memset(&r, 0, sizeof r);
	*status = 0;
	if (client_open(&c, tn->db, CLIENT_QUIET_NODAEMON) == 0 && client_do(c, &q, &r) == 0) {
		*status = r.status;
		j = json_incref(r.json);
	}
	client_reply_free(&r);
	client_free(c);
	return j;
}

/* The node's last warning line (why it could not join). */
static void
print_last_warning(struct tempnode *tn)
{
	char path[200], line[512], last[512] = "";
	FILE *f;

	snprintf(path, sizeof path, "%s/log", tn->dir);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, "another network") != NULL || strstr(line, "warn") != NULL)
			snprintf(last, sizeof last, "%s", line);
	fclose(f);
	if (last[0] != '\0') {
		char *p = strstr(last, "another network") ? strstr(last, "node at") : NULL;
		fprintf(stderr, "p2p: %s", p != NULL ? p : last);
	}
}

int
tempnode_start(struct tempnode *tn, const struct tempnode_opts *o)
{
	char *argv[24], exe[4096];
	int argc = 0, fd;
	ssize_t n;
	uint64_t t0;
	long st;
	json_t *j;

	memset(tn, 0, sizeof *tn);
	snprintf(tn->dir, sizeof tn->dir, "%s/p2p-client.XXXXXX",
	    getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tn->dir) == NULL) {
		cmd_err("cannot create a temporary directory: %s", strerror(errno));
		tn->dir[0] = '\0';
		return -1;
	}
	snprintf(tn->db, sizeof tn->db, "%s/p2p.db", tn->dir);
	if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) <= 0) {
		cmd_err("cannot find the p2p program (/proc/self/exe)");
		goto fail;
	}
	exe[n] = '\0';
	argv[argc++] = exe;
	argv[argc++] = "--db";
	argv[argc++] = tn->db;
	argv[argc++] = "serve";
	argv[argc++] = "--listen";
	argv[argc++] = "127.0.0.1:0";
	argv[argc++] = "--no-mdns";
	argv[argc++] = "--bootstrap";
	argv[argc++] = (char *)o->bootstrap;
	argv[argc++] = "--anti-entropy";
	argv[argc++] = "1s";
	if (o->join != NULL) {
		argv[argc++] = "--join";
		argv[argc++] = (char *)o->join;
	}
	if (o->network_key != NULL) {
		argv[argc++] = "--network-key";
		argv[argc++] = (char *)o->network_key;
	}
	if (o->store)
		argv[argc++] = "--ephemeral";
	if (strncmp(o->bootstrap, "bt:", 3) == 0)
		argv[argc++] = "--bluetooth"; /* a node reached over Bluetooth RFCOMM */
	argv[argc] = NULL;
	fflush(NULL);
	if ((tn->pid = fork()) == -1) {
		cmd_err("fork: %s", strerror(errno));
		goto fail;
	}
	if (tn->pid == 0) {
		char path[200];

		snprintf(path, sizeof path, "%s/log", tn->dir);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) != -1) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if ((fd = open("/dev/null", O_RDONLY)) != -1)
			dup2(fd, STDIN_FILENO);
		setpgid(0, 0); /* a ^C of the CLI is handled by the CLI, which stops us */
		execv(exe, argv);
		_exit(127);
	}
	/* connected to at least one peer */
	t0 = mono_ms();
	for (;;) {
		int status;

		if (waitpid(tn->pid, &status, WNOHANG) == tn->pid) {
			tn->pid = 0;
			print_last_warning(tn);
			cmd_err("the temporary client node stopped");
			goto fail;
		}
		j = tn_get(tn, "/v1/status", &st);
		if (j != NULL && st == 200 && json_integer_value(json_object_get(
		    json_object_get(j, "peers"), "connected")) > 0) {
			json_decref(j);
			break;
		}
		json_decref(j);
		if (mono_ms() - t0 > TEMPNODE_CONNECT_MS) {
			print_last_warning(tn);
			cmd_err("could not join the network through %s within %d s", o->bootstrap,
			    TEMPNODE_CONNECT_MS / 1000);
			goto fail;
		}
		sleep_ms(100);
	}
	/* get: the file index arrives through anti-entropy */
	if (o->wait_key != NULL) {
		const char *path = "/v1/files?deleted=1";

		t0 = mono_ms();
		for (;;) {
			size_t i;
			json_t *f;
			int found = 0;

			j = tn_get(tn, path, &st);
			json_array_foreach(json_object_get(j, "files"), i, f)
				if (strcmp(json_string_value(json_object_get(f, "key")) ?: "",
				    o->wait_key) == 0)
					found = 1;
			json_decref(j);
			if (found || mono_ms() - t0 > TEMPNODE_SYNC_MS)
				break;
			sleep_ms(100);
		}
	}
	return 0;
fail:
	tempnode_stop(tn);
	return -1;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
tempnode_stop(struct tempnode *tn)
{
	int status;

	if (tn->pid > 0) {
		kill(tn->pid, SIGTERM);
		for (int i = 0; i < 100; i++) {
			if (waitpid(tn->pid, &status, WNOHANG) == tn->pid) {
				tn->pid = 0;
				break;
			}
			sleep_ms(100);
		}
		if (tn->pid > 0) {
			kill(tn->pid, SIGKILL);
			waitpid(tn->pid, &status, 0);
		}
		tn->pid = 0;
	}
	if (tn->dir[0] != '\0') {
		nftw(tn->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		tn->dir[0] = '\0';
	}
}
