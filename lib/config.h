/* config.h: `key = value` configuration files (p2p serve --config FILE).
 *
 * Format, one setting per line:
 *   # a comment (only whole lines; '#' inside a value is part of the value)
 *   key = value
 *   key = "value with  spaces"     (\" and \\ are escapes inside the quotes)
 *   key =                          (an empty value)
 * Surrounding whitespace is trimmed; blank lines are ignored; CRLF line ends are fine.
 * A key is 1..64 of [A-Za-z0-9_.-]. The same key may appear more than once: each
 * occurrence is passed to set() in file order, and set() decides (accumulate, or the last
 * one wins). A line is at most CONFIG_LINE_MAX bytes (without its newline); NUL bytes
 * are refused, and so is a file that is world-writable or not a regular file. */
#ifndef P2P_CONFIG_H
#define P2P_CONFIG_H

#define CONFIG_LINE_MAX 4096
#define CONFIG_KEY_MAX 64

/* The callback returns 0 to accept a setting, or -1 with *cause set (or left NULL) to
 * reject it; config_load then stops and reports "FILE:LINE: <cause>". */
typedef int (*config_set_fn)(void *arg, const char *key, const char *val, char **cause);

/* Read path and call set() for each setting in order. 0 ok; -1 with *cause set:
 *   "FILE: No such file or directory" (any open/read error: strerror text),
 *   "FILE: is world-writable, refusing it (chmod o-w FILE)",
 *   "FILE:LINE: message" for syntax errors and for settings set() rejects. */
int config_load(const char *path,
    int (*set)(void *arg, const char *key, const char *val, char **cause), void *arg,
    char **cause);

#endif
