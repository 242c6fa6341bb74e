/* http.h - the listener (libmicrohttpd): endpoints, request bodies, streaming. */
#ifndef AK_SERVE_HTTP_H
#define AK_SERVE_HTTP_H

#include "adaptivek.h" /* ak_error */
#include <stddef.h>

typedef struct ak_server ak_server;

int ak_http_start(ak_server *s, ak_error *err);
void ak_http_quiesce(ak_server *s); /* stop accepting connections */
/* Waits (at most wait_s) for answered requests to finish sending, then closes everything. */
void ak_http_stop(ak_server *s, double wait_s);

#endif
