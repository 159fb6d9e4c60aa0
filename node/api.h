/* api.h: helpers shared by the control API handlers (node/api.c, node/files.c). */
#ifndef P2P_API_H
#define P2P_API_H

#include <jansson.h>
#include <stdint.h>

struct evbuffer;
struct evhttp_request;
struct node;
struct db_file;

#define API_MAX_PUT (4u << 20) /* largest direct PUT /v1/files/{key} body */
#define UPLOAD_WINDOW 4        /* parts queued per upload before back-pressure */
#define UPLOAD_MAX 64          /* concurrent upload sessions */
#define UPLOAD_IDLE_MS (10 * 60 * 1000)

/* Reply with a JSON body; steals obj. */
void api_json(struct evhttp_request *req, int code, json_t *obj);
/* Reply {"error": error, "detail": ...} with code. */
void api_error(struct evhttp_request *req, int code, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* s as a JSON string, appended to b (keys are valid UTF-8 without control characters;
 * any byte below 0x20 is escaped all the same). */
void api_json_str_add(struct evbuffer *b, const char *s);
/* Reply with the JSON text in b (a newline is added); b stays the caller's. */
void api_json_text(struct evhttp_request *req, int code, struct evbuffer *b);
/* A file's JSON object (files list, store replies), as text appended to b: whole, or in
 * two pieces so that a store's reply adds members of its own before the closing brace
 * (written as text: parsing it into a jansson tree and dumping it again was about a
 * third of the loop's work on a small store). head: '{' to "chunks_present";
 * tail: "replicas" (have, target) and "deleted" (when set); then the caller adds '}'
 * (api_file_json_end). */
void api_file_json_add(struct evbuffer *b, const struct node *n, const struct db_file *f);
void api_file_json_head(struct evbuffer *b, const struct db_file *f);
void api_file_json_tail(struct evbuffer *b, int deleted, uint64_t have, uint64_t target);
/* A store's reply: its "warning" member (when not NULL) and the closing brace. */
void api_file_json_end(struct evbuffer *b, const char *warning);

/* files.c handlers; key is percent-decoded and validated by the router. fd: a token
 * from fd.sock (node/fdpass.h), or NULL: the content comes from / goes to that file
 * instead of the HTTP body. */
void files_put(struct node *n, struct evhttp_request *req, const char *key,
    const char *upload_id, const char *fd);
void files_get(struct node *n, struct evhttp_request *req, const char *key, int head,
    const char *fd);
void files_delete(struct node *n, struct evhttp_request *req, const char *key);
void files_list(struct node *n, struct evhttp_request *req, int include_deleted);
void uploads_new(struct node *n, struct evhttp_request *req);
void uploads_part(struct node *n, struct evhttp_request *req, const char *id,
    const char *idx);
void uploads_abort(struct node *n, struct evhttp_request *req, const char *id);

#endif
