/* standalone.c: the corpus replayer. Linked with one fuzz_<name>.c instead of libFuzzer,
 * it runs LLVMFuzzerTestOneInput once over every regular file in the directories (or
 * files) given on the command line, in name order, and prints
 *   fuzz_<name>: N inputs
 * Built with gcc -fsanitize=address,undefined by `make fuzz-replay`, so a corpus entry
 * that once crashed a decoder keeps guarding it in the normal test run.
 * Each input is copied into a buffer of exactly its size, so an over-read of one byte
 * is an ASan error. When an input crashes, its path is printed before the process dies.
 * Exit status: 0 all inputs ran, 1 usage or I/O error (a crash aborts the process). */
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_HAVE_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_HAVE_SANITIZER 1
#endif
#endif
#ifdef FUZZ_HAVE_SANITIZER
#include <sanitizer/common_interface_defs.h>
#endif

static char current[4096]; /* the input being run, for the crash message */

static void
say_current(void)
{
	static const char pre[] = "fuzz-replay: crashing input: ";
	size_t n = strnlen(current, sizeof current);

	if (n == 0)
		return;
	/* async-signal-safe: write(2) only */
	if (write(STDERR_FILENO, pre, sizeof pre - 1) < 0 ||
	    write(STDERR_FILENO, current, n) < 0 || write(STDERR_FILENO, "\n", 1) < 0)
		return;
}

static void
on_signal(int sig)
{
	say_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
read_file(const char *path, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *p;
	size_t off = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || st.st_size < 0) {
		close(fd);
		return -1;
	}
	/* Exactly st_size bytes (malloc(0) may return NULL: ask for 1 but pass size 0). */
	if ((p = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL) {
		close(fd);
		return -1;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, p + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(p);
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	close(fd);
	*out = p;
	*len = off;
	return 0;
}

static int
run_file(const char *path, unsigned long *count)
{
	uint8_t *data;
	size_t len;

	if (read_file(path, &data, &len) == -1) {
		fprintf(stderr, "fuzz-replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	snprintf(current, sizeof current, "%s", path);
	LLVMFuzzerTestOneInput(data, len);
	current[0] = '\0';
	free(data);
	(*count)++;
	return 0;
}

static int
skip_entry(const struct dirent *d)
{
	return d->d_name[0] != '.'; /* no ".", "..", dot files (.gitkeep) */
}

static int
run_dir(const char *dir, unsigned long *count)
{
	struct dirent **names;
	int n, rc = 0;

	if ((n = scandir(dir, &names, skip_entry, alphasort)) == -1) {
		fprintf(stderr, "fuzz-replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && run_file(path, count) == -1)
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	unsigned long count = 0;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", prog);
		return 1;
	}
#ifdef FUZZ_HAVE_SANITIZER
	__sanitizer_set_death_callback(say_current);
#endif
	signal(SIGABRT, on_signal);
	signal(SIGFPE, on_signal);
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "fuzz-replay: %s: %s\n", argv[i], strerror(errno));
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &count) == -1)
				rc = 1;
		} else if (run_file(argv[i], &count) == -1) {
			rc = 1;
		}
	}
	printf("%s: %lu inputs\n", prog, count);
	return rc;
}
