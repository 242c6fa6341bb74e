/* json.h - a small strict JSON reader (DOM) and writer used by the router config. */
#ifndef AK_ROUTER_JSON_H
#define AK_ROUTER_JSON_H

#include <stddef.h>

#include "adaptivek.h"

typedef enum {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type;

typedef struct {
    json_type type;
    size_t pos;       /* byte offset of the value in the source */
    double num;       /* JSON_NUMBER */
    const char *str;  /* JSON_STRING: decoded, NUL-terminated */
    const char *key;  /* member name when the parent is an object, else NULL */
    int first_child;  /* arrays and objects: index of the first element, -1 when empty */
    int next;         /* next sibling, -1 at the end */
    int count;        /* arrays and objects: number of elements */
} json_node;

typedef struct {
    const char *src;
    size_t len;
    json_node *nodes; /* nodes[0] is the root */
    int n_nodes, cap;
    char *strings;    /* decoded strings (never longer than the source) */
    size_t str_used;
} json_doc;

/* Parses exactly one JSON value (surrounding whitespace allowed). Errors are AK_ERR_JSON
 * with line, column and byte offset. Duplicate object keys are errors. */
ak_status json_parse(const char *src, size_t len, json_doc *doc, ak_error *err);
void json_free(json_doc *doc);

/* Member of an object by name, or NULL. */
const json_node *json_get(const json_doc *doc, const json_node *obj, const char *key);
const json_node *json_child(const json_doc *doc, const json_node *n); /* first element or NULL */
const json_node *json_next(const json_doc *doc, const json_node *n);  /* next sibling or NULL */
const char *json_type_name(json_type t);
/* "line L, column C (byte B)" for an offset. */
void json_where(const json_doc *doc, size_t pos, char *buf, size_t len);

/* Growable output string. */
typedef struct {
    char *buf;
    size_t len, cap;
    int failed; /* allocation failed; later appends are ignored */
} json_writer;

void jw_raw(json_writer *w, const char *s);
void jw_printf(json_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jw_string(json_writer *w, const char *s); /* quoted and escaped */
void jw_float(json_writer *w, float v);       /* shortest text that reads back as the same float */

#endif
