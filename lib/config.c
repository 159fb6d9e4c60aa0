/* config.c: see config.h. */
#include "lib/config.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
config_isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int
config_keychar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '-' || c == '.';
}

/* Read one line (without '\n') into buf[CONFIG_LINE_MAX + 1].
 * Returns 1 line read, 0 end of file, -1 read error (errno), -2 too long, -3 NUL byte.
 * After -2 or -3 the caller stops, so the rest of the line need not be skipped. */
static int
config_getline(FILE *f, char *buf, size_t *lenp)
{
	size_t len = 0;
	int c;

	for (;;) {
		c = getc(f);
		if (c == EOF) {
			if (ferror(f))
				return -1;
			if (len == 0)
				return 0;
			break;
		}
		if (c == '\n')
			break;
		if (c == '\0')
			return -3;
		if (len == CONFIG_LINE_MAX)
			return -2;
		buf[len++] = (char)c;
	}
	buf[len] = '\0';
	*lenp = len;
	return 1;
}

/* Parse one line in place. Returns 0 with *key NULL for a blank or comment line, 0 with
 * *key and *val set for a setting, -1 with *err set for a syntax error. */
static int
config_parse_line(char *line, size_t len, char **key, char **val, const char **err)
{
	char *p = line, *end = line + len, *eq, *k, *v, *r, *w;

	*key = *val = NULL;
	while (p < end && config_isspace(*p))
		p++;
	while (end > p && config_isspace(end[-1]))
		end--;
	*end = '\0';
	if (p == end || *p == '#')
		return 0;

	eq = strchr(p, '=');
	if (eq == NULL) {
		*err = "missing '=' (expected: key = value)";
		return -1;
	}
	k = p;
	for (w = eq; w > k && config_isspace(w[-1]); w--)
		;
	*w = '\0';
	if (*k == '\0') {
		*err = "empty key";
		return -1;
	}
	if ((size_t)(w - k) > CONFIG_KEY_MAX) {
		*err = "key too long";
		return -1;
	}
	for (r = k; *r != '\0'; r++) {
		if (!config_keychar(*r)) {
			*err = "invalid key (letters, digits, '-', '_' and '.' only)";
			return -1;
		}
	}

	v = eq + 1;
	while (config_isspace(*v))
		v++;
	if (*v == '"') {
		/* Quoted: everything up to the closing quote, \" and \\ unescaped. */
		r = w = v + 1;
		for (;;) {
			if (*r == '\0') {
				*err = "unterminated quoted value";
				return -1;
			}
			if (*r == '"')
				break;
			if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
				r++;
			*w++ = *r++;
		}
		if (r[1] != '\0') {
			*err = "text after the closing quote";
			return -1;
		}
		*w = '\0';
		v++;
	}
	*key = k;
	*val = v;
	return 0;
}

int
config_load(const char *path,
    int (*set)(void *arg, const char *key, const char *val, char **cause), void *arg,
    char **cause)
{
	char *buf = NULL, *key, *val, *why = NULL;
	const char *err;
	FILE *f = NULL;
	struct stat st;
	size_t len;
	unsigned long lineno = 0;
	int fd, r, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		set_cause(cause, "%s: not a regular file", path);
		close(fd);
		goto out;
	}
	if (st.st_mode & S_IWOTH) {
		set_cause(cause, "%s: is world-writable, refusing it (chmod o-w %s)", path, path);
		close(fd);
		goto out;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}

	buf = xmalloc(CONFIG_LINE_MAX + 1);
	for (;;) {
		r = config_getline(f, buf, &len);
		if (r == 0)
			break;
		lineno++;
		if (r == -1) {
			set_cause(cause, "%s:%lu: %s", path, lineno, strerror(errno));
			goto out;
		}
		if (r == -2) {
			set_cause(cause, "%s:%lu: line too long (max %d bytes)", path, lineno,
			    CONFIG_LINE_MAX);
			goto out;
		}
		if (r == -3) {
			set_cause(cause, "%s:%lu: NUL byte in line", path, lineno);
			goto out;
		}
		if (config_parse_line(buf, len, &key, &val, &err) == -1) {
			set_cause(cause, "%s:%lu: %s", path, lineno, err);
			goto out;
		}
		if (key == NULL)
			continue;
		if (set(arg, key, val, &why) != 0) {
			if (why != NULL)
				set_cause(cause, "%s:%lu: %s", path, lineno, why);
			else
				set_cause(cause, "%s:%lu: bad value for %s", path, lineno, key);
			goto out;
		}
		free(why); /* a set() that filled cause yet accepted */
		why = NULL;
	}
	rc = 0;
out:
	free(why);
	free(buf);
	if (f != NULL)
		fclose(f);
	return rc;
}
